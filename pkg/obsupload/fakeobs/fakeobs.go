// Package fakeobs is an in-process fake of the part of OBS's S3-style
// HTTP API that a multipart upload uses, on an httptest server, for
// tests that drive the official OBS SDK against it:
//
//	POST   /{bucket}/{key}?uploads                    initiate multipart upload
//	PUT    /{bucket}/{key}?partNumber=N&uploadId=ID   upload part (Content-MD5 checked)
//	GET    /{bucket}/{key}?uploadId=ID                list parts (max-parts, part-number-marker)
//	POST   /{bucket}/{key}?uploadId=ID                complete multipart upload
//	DELETE /{bucket}/{key}?uploadId=ID                abort multipart upload
//	HEAD   /{bucket}/{key}                            object size and ETag
//
// Requests are path-style (the SDK uses that for an IP endpoint) and must
// carry a valid V2 signature (Authorization: AWS AK:signature, HMAC-SHA1)
// for the fake's keys. Completed objects get OBS's multipart ETag,
// MD5(M1..Mn)-n. Failures can be scripted: error answers queued per route
// (with Retry-After), answers lost after the work was done (the
// connection closed), every part refused after N stored parts, and a
// hook called after each stored part (a test kills its client there).
// It touches nothing outside memory.
package fakeobs

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Route names, to count requests and script failures.
const (
	Initiate   = "initiate"
	UploadPart = "upload_part"
	ListParts  = "list_parts"
	Complete   = "complete"
	Abort      = "abort"
	Head       = "head"
)

// Failure is a scripted error answer. Status 0 closes the connection
// without any answer.
type Failure struct {
	Status     int
	Code       string
	Message    string
	RetryAfter string // Retry-After header value, if any
}

// Request is one recorded request.
type Request struct {
	Route      string
	Method     string
	Bucket     string
	Key        string
	PartNumber int
	Header     http.Header
}

// Fake is the fake OBS. Exported knobs may be set before use.
type Fake struct {
	AK, SK string
	Server *httptest.Server
	URL    string

	// MinPartSize is the least size of a part but the last at Complete
	// (OBS: 100 KiB).
	MinPartSize int64
	// PageSize is ListParts' default page (OBS: 1000); small values
	// exercise the client's paging.
	PageSize int

	// inflight counts requests being served and quiet is when the last
	// one began or ended (Unix nanoseconds): Idle waits on both.
	inflight  atomic.Int64
	quiet     atomic.Int64
	mu        sync.Mutex
	buckets   map[string]bool
	encrypted map[string]bool
	uploads   map[string]*upload
	objects   map[string]object
	requests  []Request
	inject    map[string][]Failure
	accepted  map[string][]Failure
	stored    int // parts stored, all uploads
	storedBy  map[int]int
	failAfter int
	afterFail *Failure
	onPart    func(stored int)
	seq       int
}

type upload struct {
	bucket, key string
	parts       map[int]part
}

type part struct {
	data []byte
	md5  [md5.Size]byte
	// etag is what OBS answered: the MD5, or in an encrypted bucket
	// something else (OBS: "the ETag is not the MD5 value of the object").
	etag string
}

// object keeps its parts: a multi-GiB object is never copied whole.
type object struct {
	parts [][]byte
	etag  string
	size  int64
}

// New starts the fake accepting the key pair ak/sk. Close it when done.
func New(ak, sk string) *Fake {
	f := &Fake{AK: ak, SK: sk, MinPartSize: 100 << 10, PageSize: 1000,
		storedBy: map[int]int{}, buckets: map[string]bool{}, encrypted: map[string]bool{}, uploads: map[string]*upload{}, objects: map[string]object{},
		inject: map[string][]Failure{}, accepted: map[string][]Failure{}}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	f.URL = f.Server.URL
	return f
}

// Close stops the server.
func (f *Fake) Close() { f.Server.Close() }

// AddBucket creates a bucket.
func (f *Fake) AddBucket(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.buckets[name] = true
}

// EncryptBucket turns on default server-side encryption (SSE-KMS) for a
// bucket: its answers carry x-amz-server-side-encryption: kms, and part and
// object ETags are no longer MD5s. The Content-MD5 of each part is still
// checked.
func (f *Fake) EncryptBucket(name string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.encrypted[name] = true
}

// sse marks an answer of an encrypted bucket.
func (f *Fake) sse(w http.ResponseWriter, bucket string) {
	if f.encrypted[bucket] {
		w.Header().Set("x-amz-server-side-encryption", "kms")
	}
}

// encryptedETag stands for the ETag of ciphertext: not an MD5 of the data.
func encryptedETag(s string) string {
	sum := md5.Sum([]byte("sse-kms:" + s))
	return hex.EncodeToString(sum[:])
}

// Inject queues error answers for a route's next requests.
func (f *Fake) Inject(route string, fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[route] = append(f.inject[route], fs...)
}

// InjectAccepted queues failures played after a route's next requests
// were carried out: the part is stored, the upload completed, then the
// answer is lost.
func (f *Fake) InjectAccepted(route string, fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted[route] = append(f.accepted[route], fs...)
}

// FailPartsAfter answers every part upload with fl once n parts have been
// stored (counted over all uploads), until ClearFailures: a link that
// breaks half-way.
func (f *Fake) FailPartsAfter(n int, fl Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failAfter, f.afterFail = n, &fl
}

// ClearFailures drops every scripted failure.
func (f *Fake) ClearFailures() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject, f.accepted, f.afterFail = map[string][]Failure{}, map[string][]Failure{}, nil
}

// OnPart sets a hook called after each stored part, before it is
// answered, with the number of parts stored so far. It runs under the
// fake's lock and must not call the Fake.
func (f *Fake) OnPart(fn func(stored int)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onPart = fn
}

// Requests returns the recorded requests of a route ("" for all).
func (f *Fake) Requests(route string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.requests {
		if route == "" || r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// PartsSent counts the part uploads that reached the fake, by part number
// (refused ones included).
func (f *Fake) PartsSent() map[int]int {
	out := map[int]int{}
	for _, r := range f.Requests(UploadPart) {
		out[r.PartNumber]++
	}
	return out
}

// Stored counts the parts stored, by part number: uploads OBS took,
// whether or not their answer reached the client.
func (f *Fake) Stored() map[int]int {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[int]int, len(f.storedBy))
	for n, c := range f.storedBy {
		out[n] = c
	}
	return out
}

// DeleteObject removes an object (someone cleaned the bucket).
func (f *Fake) DeleteObject(bucket, key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.objects, bucket+"/"+key)
}

// Object returns a completed object's bytes and ETag.
func (f *Fake) Object(bucket, key string) ([]byte, string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	o, ok := f.objects[bucket+"/"+key]
	if !ok {
		return nil, "", false
	}
	return bytes.Join(o.parts, nil), o.etag, true
}

// HasObject answers for an IMS image_url (bucket:key): nil when the
// object exists, else why not (fakecloud's ImportSource).
func (f *Fake) HasObject(imageURL string) error {
	b, k, _ := strings.Cut(imageURL, ":")
	f.mu.Lock()
	_, ok := f.objects[b+"/"+k]
	f.mu.Unlock()
	if !ok {
		return fmt.Errorf("the image file %s was not found in OBS", imageURL)
	}
	return nil
}

// Uploads returns the IDs of multipart uploads neither completed nor
// aborted.
func (f *Fake) Uploads() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id := range f.uploads {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

func (f *Fake) requestID() string {
	f.seq++
	return fmt.Sprintf("0000018F%016X", f.seq*7919)
}

type xmlError struct {
	XMLName   xml.Name `xml:"Error"`
	Code      string   `xml:"Code"`
	Message   string   `xml:"Message"`
	RequestID string   `xml:"RequestId"`
	HostID    string   `xml:"HostId"`
}

func (f *Fake) fail(w http.ResponseWriter, r *http.Request, fl Failure) {
	if fl.Status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return
			}
		}
		fl = Failure{Status: 502, Code: "FakeCannotDrop", Message: "cannot drop the connection"}
	}
	id := f.requestID()
	w.Header().Set("x-amz-request-id", id)
	if fl.RetryAfter != "" {
		w.Header().Set("Retry-After", fl.RetryAfter)
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(fl.Status)
		return
	}
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(fl.Status)
	b, _ := xml.Marshal(xmlError{Code: fl.Code, Message: fl.Message, RequestID: id, HostID: "fakeobs"})
	w.Write(append([]byte(xml.Header), b...))
}

func (f *Fake) ok(w http.ResponseWriter, v any) {
	w.Header().Set("x-amz-request-id", f.requestID())
	if v == nil {
		w.WriteHeader(http.StatusOK)
		return
	}
	b, _ := xml.Marshal(v)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusOK)
	w.Write(append([]byte(xml.Header), b...))
}

// lost plays a queued InjectAccepted failure; true when it answered.
func (f *Fake) lost(w http.ResponseWriter, r *http.Request, route string) bool {
	q := f.accepted[route]
	if len(q) == 0 {
		return false
	}
	f.accepted[route] = q[1:]
	f.fail(w, r, q[0])
	return true
}

func route(r *http.Request) string {
	q := r.URL.Query()
	_, uploads := q["uploads"]
	id := q.Get("uploadId")
	switch {
	case r.Method == http.MethodPost && uploads:
		return Initiate
	case r.Method == http.MethodPut && id != "" && q.Get("partNumber") != "":
		return UploadPart
	case r.Method == http.MethodGet && id != "":
		return ListParts
	case r.Method == http.MethodPost && id != "":
		return Complete
	case r.Method == http.MethodDelete && id != "":
		return Abort
	case r.Method == http.MethodHead && len(q) == 0:
		return Head
	}
	return ""
}

// Idle waits until no request has been served for 200ms: after its
// client was stopped, what it had sent has landed (or not). A request
// already in the kernel's buffers reaches a handler only later, so an
// empty handler count alone is not enough.
func (f *Fake) Idle() {
	for f.inflight.Load() > 0 || time.Since(time.Unix(0, f.quiet.Load())) < 200*time.Millisecond {
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *Fake) serve(w http.ResponseWriter, r *http.Request) {
	f.inflight.Add(1)
	f.quiet.Store(time.Now().UnixNano())
	defer func() {
		f.quiet.Store(time.Now().UnixNano())
		f.inflight.Add(-1)
	}()
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	rt := route(r)
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	pn, _ := strconv.Atoi(r.URL.Query().Get("partNumber"))
	f.requests = append(f.requests, Request{Route: rt, Method: r.Method, Bucket: bucket, Key: key, PartNumber: pn, Header: r.Header.Clone()})
	if msg := f.checkSignature(r); msg != "" {
		f.fail(w, r, Failure{Status: 403, Code: "SignatureDoesNotMatch", Message: msg})
		return
	}
	if rt == "" || key == "" {
		f.fail(w, r, Failure{Status: 405, Code: "MethodNotAllowed", Message: "not faked: " + r.Method + " " + r.URL.String()})
		return
	}
	if !f.buckets[bucket] {
		f.fail(w, r, Failure{Status: 404, Code: "NoSuchBucket", Message: "The specified bucket does not exist"})
		return
	}
	if q := f.inject[rt]; len(q) > 0 {
		f.inject[rt] = q[1:]
		f.fail(w, r, q[0])
		return
	}
	id := r.URL.Query().Get("uploadId")
	up := f.uploads[id]
	if rt != Initiate && rt != Head && (up == nil || up.bucket != bucket || up.key != key) {
		f.fail(w, r, Failure{Status: 404, Code: "NoSuchUpload", Message: "The specified multipart upload does not exist"})
		return
	}
	switch rt {
	case Initiate:
		f.seq++
		id := fmt.Sprintf("%032X", f.seq*104729)
		f.uploads[id] = &upload{bucket: bucket, key: key, parts: map[int]part{}}
		if f.lost(w, r, rt) {
			return
		}
		f.sse(w, bucket)
		f.ok(w, struct {
			XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
			Bucket   string   `xml:"Bucket"`
			Key      string   `xml:"Key"`
			UploadID string   `xml:"UploadId"`
		}{Bucket: bucket, Key: key, UploadID: id})
	case UploadPart:
		f.uploadPart(w, r, up, pn, body)
	case ListParts:
		f.listParts(w, r, up, id)
	case Complete:
		f.complete(w, r, up, id, body)
	case Abort:
		delete(f.uploads, id)
		w.Header().Set("x-amz-request-id", f.requestID())
		w.WriteHeader(http.StatusNoContent)
	case Head:
		o, ok := f.objects[bucket+"/"+key]
		if !ok {
			f.fail(w, r, Failure{Status: 404})
			return
		}
		w.Header().Set("ETag", `"`+o.etag+`"`)
		w.Header().Set("Content-Length", strconv.FormatInt(o.size, 10))
		w.Header().Set("x-amz-request-id", f.requestID())
		f.sse(w, bucket)
		w.WriteHeader(http.StatusOK)
	}
}

func (f *Fake) uploadPart(w http.ResponseWriter, r *http.Request, up *upload, pn int, body []byte) {
	if f.afterFail != nil && f.stored >= f.failAfter {
		f.fail(w, r, *f.afterFail)
		return
	}
	if pn < 1 || pn > 10000 {
		f.fail(w, r, Failure{Status: 400, Code: "InvalidArgument", Message: "part number must be 1 to 10000"})
		return
	}
	if r.ContentLength != int64(len(body)) {
		f.fail(w, r, Failure{Status: 400, Code: "IncompleteBody", Message: fmt.Sprintf("Content-Length %d, body %d bytes", r.ContentLength, len(body))})
		return
	}
	sum := md5.Sum(body)
	if h := r.Header.Get("Content-MD5"); h != "" && h != base64.StdEncoding.EncodeToString(sum[:]) {
		f.fail(w, r, Failure{Status: 400, Code: "BadDigest", Message: "The Content-MD5 you specified did not match what we received"})
		return
	}
	etag := hex.EncodeToString(sum[:])
	if f.encrypted[up.bucket] {
		etag = encryptedETag(etag)
	}
	up.parts[pn] = part{data: body, md5: sum, etag: etag}
	f.stored++
	f.storedBy[pn]++
	if f.onPart != nil {
		f.onPart(f.stored)
	}
	if f.lost(w, r, UploadPart) {
		return
	}
	w.Header().Set("ETag", `"`+etag+`"`)
	w.Header().Set("x-amz-request-id", f.requestID())
	f.sse(w, up.bucket)
	w.WriteHeader(http.StatusOK)
}

type xmlPart struct {
	PartNumber   int    `xml:"PartNumber"`
	LastModified string `xml:"LastModified,omitempty"`
	ETag         string `xml:"ETag"`
	Size         int64  `xml:"Size,omitempty"`
}

func (f *Fake) listParts(w http.ResponseWriter, r *http.Request, up *upload, id string) {
	q := r.URL.Query()
	page := f.PageSize
	if n, err := strconv.Atoi(q.Get("max-parts")); err == nil && n > 0 && n < page {
		page = n
	}
	marker, _ := strconv.Atoi(q.Get("part-number-marker"))
	var nums []int
	for n := range up.parts {
		if n > marker {
			nums = append(nums, n)
		}
	}
	sort.Ints(nums)
	out := struct {
		XMLName              xml.Name  `xml:"ListPartsResult"`
		Bucket               string    `xml:"Bucket"`
		Key                  string    `xml:"Key"`
		UploadID             string    `xml:"UploadId"`
		PartNumberMarker     int       `xml:"PartNumberMarker"`
		NextPartNumberMarker int       `xml:"NextPartNumberMarker"`
		MaxParts             int       `xml:"MaxParts"`
		IsTruncated          bool      `xml:"IsTruncated"`
		Parts                []xmlPart `xml:"Part"`
	}{Bucket: up.bucket, Key: up.key, UploadID: id, PartNumberMarker: marker, MaxParts: page}
	if len(nums) > page {
		nums, out.IsTruncated = nums[:page], true
	}
	for _, n := range nums {
		p := up.parts[n]
		out.Parts = append(out.Parts, xmlPart{PartNumber: n, LastModified: "2026-12-01T10:00:00.000Z", ETag: `"` + p.etag + `"`, Size: int64(len(p.data))})
		out.NextPartNumberMarker = n
	}
	f.ok(w, out)
}

func (f *Fake) complete(w http.ResponseWriter, r *http.Request, up *upload, id string, body []byte) {
	var req struct {
		Parts []xmlPart `xml:"Part"`
	}
	if err := xml.Unmarshal(body, &req); err != nil || len(req.Parts) == 0 {
		f.fail(w, r, Failure{Status: 400, Code: "MalformedXML", Message: "The XML you provided was not well-formed"})
		return
	}
	var obj object
	h := md5.New()
	for i, rp := range req.Parts {
		p, ok := up.parts[rp.PartNumber]
		switch {
		case i > 0 && rp.PartNumber <= req.Parts[i-1].PartNumber:
			f.fail(w, r, Failure{Status: 400, Code: "InvalidPartOrder", Message: "The list of parts was not in ascending order"})
			return
		case !ok || strings.Trim(rp.ETag, `"`) != p.etag:
			f.fail(w, r, Failure{Status: 400, Code: "InvalidPart", Message: fmt.Sprintf("part %d was not uploaded or its ETag does not match", rp.PartNumber)})
			return
		case i < len(req.Parts)-1 && int64(len(p.data)) < f.MinPartSize:
			f.fail(w, r, Failure{Status: 400, Code: "EntityTooSmall", Message: fmt.Sprintf("part %d is %d bytes, below the minimum", rp.PartNumber, len(p.data))})
			return
		}
		obj.parts = append(obj.parts, p.data)
		obj.size += int64(len(p.data))
		h.Write(p.md5[:])
	}
	etag := hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(req.Parts))
	if f.encrypted[up.bucket] {
		etag = encryptedETag(etag)
	}
	obj.etag = etag
	f.objects[up.bucket+"/"+up.key] = obj
	delete(f.uploads, id)
	if f.lost(w, r, Complete) {
		return
	}
	f.sse(w, up.bucket)
	f.ok(w, struct {
		XMLName  xml.Name `xml:"CompleteMultipartUploadResult"`
		Location string   `xml:"Location"`
		Bucket   string   `xml:"Bucket"`
		Key      string   `xml:"Key"`
		ETag     string   `xml:"ETag"`
	}{Location: f.URL + "/" + up.bucket + "/" + up.key, Bucket: up.bucket, Key: up.key, ETag: `"` + etag + `"`})
}

// subresources are the query parameters a V2 signature covers (those a
// multipart upload uses, and the common others).
var subresources = map[string]bool{"acl": true, "uploads": true, "uploadid": true, "partnumber": true, "versionid": true,
	"delete": true, "policy": true, "tagging": true, "lifecycle": true, "location": true}

// checkSignature verifies an AWS V2 signature: HMAC-SHA1 of method,
// Content-MD5, Content-Type, Date (empty with x-amz-date), the x-amz-
// headers and the resource with its subresources. It returns why a
// request is refused, or "".
func (f *Fake) checkSignature(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	rest, ok := strings.CutPrefix(auth, "AWS ")
	ak, sig, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 {
		return "request not signed (want Authorization: AWS AK:signature)"
	}
	if ak != f.AK {
		return "unknown access key " + ak
	}
	var amz []string
	for k, v := range r.Header {
		if lk := strings.ToLower(k); strings.HasPrefix(lk, "x-amz-") {
			amz = append(amz, lk+":"+strings.Join(v, ","))
		}
	}
	sort.Strings(amz)
	date := r.Header.Get("Date")
	if r.Header.Get("X-Amz-Date") != "" {
		date = ""
	}
	path, _, _ := strings.Cut(r.RequestURI, "?")
	var subs []string
	q := r.URL.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		if subresources[strings.ToLower(k)] {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		if v := q.Get(k); v != "" {
			subs = append(subs, k+"="+v)
		} else {
			subs = append(subs, k)
		}
	}
	resource := path
	if len(subs) > 0 {
		resource += "?" + strings.Join(subs, "&")
	}
	lines := []string{r.Method, r.Header.Get("Content-MD5"), r.Header.Get("Content-Type"), date}
	lines = append(lines, amz...)
	toSign := strings.Join(lines, "\n") + "\n" + resource
	mac := hmac.New(sha1.New, []byte(f.SK))
	mac.Write([]byte(toSign))
	if want := base64.StdEncoding.EncodeToString(mac.Sum(nil)); !hmac.Equal([]byte(want), []byte(sig)) {
		return "signature does not match (string to sign " + strconv.Quote(toSign) + ")"
	}
	return ""
}
