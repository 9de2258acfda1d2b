package obsupload_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/backoff"
	"github.com/prepagent/prepagent/pkg/obsupload"
	"github.com/prepagent/prepagent/pkg/obsupload/fakeobs"
)

const (
	ak, sk   = "FAKEAK0123456789", "FAKESK0123456789"
	bucket   = "images"
	key      = "disk.qcow2"
	partSize = 128 << 10
)

// setup starts a fake OBS with the bucket and writes a random file of
// size bytes (parts of 128 KiB, the last shorter).
func setup(t *testing.T, size int) (*fakeobs.Fake, string, []byte) {
	t.Helper()
	f := fakeobs.New(ak, sk)
	t.Cleanup(f.Close)
	f.AddBucket(bucket)
	f.PageSize = 3 // several ListParts pages
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 7))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	p := filepath.Join(t.TempDir(), key)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return f, p, data
}

// uploader goes through the real SDK client to the fake.
func uploader(t *testing.T, f *fakeobs.Fake, secret string) (*obsupload.Uploader, *[]string) {
	t.Helper()
	store, err := obsupload.NewOBS(obsupload.Config{Endpoint: f.URL, AK: ak, SK: secret, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var notes []string
	return &obsupload.Uploader{Store: store, PartSize: partSize, Parallel: 3,
		Retry: backoff.Policy{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond},
		Note:  func(m string) { mu.Lock(); notes = append(notes, m); mu.Unlock() }}, &notes
}

// saver keeps the checkpoint as a file would: JSON after every change.
type saver struct {
	t     *testing.T
	cp    *obsupload.Checkpoint
	saved []byte
	saves int
}

func (s *saver) save() error {
	b, err := json.Marshal(s.cp)
	s.saved, s.saves = b, s.saves+1
	return err
}

// reload is what the next process reads.
func (s *saver) reload() *obsupload.Checkpoint {
	var cp obsupload.Checkpoint
	if err := json.Unmarshal(s.saved, &cp); err != nil {
		s.t.Fatal(err)
	}
	return &cp
}

// cancelAfter returns a context cancelled (Ctrl-C) once the fake has
// stored n parts; f.OnPart(nil) ends the hook.
func cancelAfter(t *testing.T, f *fakeobs.Fake, n int) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f.OnPart(func(stored int) {
		if stored == n {
			cancel()
		}
	})
	return ctx
}

func wantETag(t *testing.T, data []byte) string {
	var sums []string
	for off := 0; off < len(data); off += partSize {
		s := md5.Sum(data[off:min(off+partSize, len(data))])
		sums = append(sums, hex.EncodeToString(s[:]))
	}
	e, err := obsupload.MultipartETag(sums)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func checkObject(t *testing.T, f *fakeobs.Fake, data []byte, res obsupload.Result) {
	t.Helper()
	got, etag, ok := f.Object(bucket, key)
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("object in OBS: present %v, %d bytes, equal %v; want the file's %d bytes", ok, len(got), bytes.Equal(got, data), len(data))
	}
	want := wantETag(t, data)
	if etag != want || res.ETag != want || res.Size != int64(len(data)) {
		t.Errorf("ETag in OBS %s, result %+v; want %s", etag, res, want)
	}
	if ups := f.Uploads(); len(ups) != 0 {
		t.Errorf("unfinished uploads left in OBS: %v", ups)
	}
}

func TestUpload(t *testing.T) {
	f, file, data := setup(t, 10*partSize+12345)
	u, _ := uploader(t, f, sk)
	var progress []obsupload.Progress
	var mu sync.Mutex
	u.OnProgress = func(p obsupload.Progress) { mu.Lock(); progress = append(progress, p); mu.Unlock() }
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	res, err := u.Upload(context.Background(), file, bucket, key, s.cp, s.save)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, data, res)
	if res.Parts != 11 || res.PartsSent != 11 || res.Skipped {
		t.Errorf("result %+v, want 11 parts sent", res)
	}
	for n := 1; n <= 11; n++ {
		if c := f.PartsSent()[n]; c != 1 {
			t.Errorf("part %d sent %d times", n, c)
		}
	}
	for _, r := range f.Requests(fakeobs.UploadPart) {
		if r.Header.Get("Content-MD5") == "" || !strings.Contains(r.Header.Get("User-Agent"), "prepctl") {
			t.Errorf("part %d: Content-MD5 %q, User-Agent %q", r.PartNumber, r.Header.Get("Content-MD5"), r.Header.Get("User-Agent"))
		}
	}
	last := progress[len(progress)-1]
	if len(progress) != 11 || last.Done != int64(len(data)) || last.Parts != 11 {
		t.Errorf("%d progress reports, last %+v", len(progress), last)
	}
	cp := s.reload()
	// Saved: the upload ID, then parts at most once a second, the last
	// part, the end.
	if !cp.Done || cp.ETag != res.ETag || len(cp.Parts) != 11 || s.saves < 3 || s.saves > 13 {
		t.Errorf("saved checkpoint %s after %d saves", s.saved, s.saves)
	}
	// Again: the object is there, nothing is sent.
	res, err = u.Upload(context.Background(), file, bucket, key, cp, s.save)
	if err != nil || !res.Skipped || len(f.Requests(fakeobs.UploadPart)) != 11 {
		t.Errorf("second upload: %+v, %v, %d part requests in all", res, err, len(f.Requests(fakeobs.UploadPart)))
	}
	// The object removed from the bucket: uploaded again.
	f.DeleteObject(bucket, key)
	res, err = u.Upload(context.Background(), file, bucket, key, cp, s.save)
	if err != nil || res.Skipped || res.PartsSent != 11 {
		t.Fatalf("after the object was deleted: %+v, %v", res, err)
	}
	checkObject(t, f, data, res)
}

// TestUploadCancelledResumes: the context ends after 4 parts are stored
// (Ctrl-C); the next run, from the saved checkpoint, sends only the parts
// OBS lacks, parts stored but never confirmed included.
func TestUploadCancelledResumes(t *testing.T) {
	f, file, data := setup(t, 12*partSize+999)
	u, notes := uploader(t, f, sk)
	ctx := cancelAfter(t, f, 4)
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	_, err := u.Upload(ctx, file, bucket, key, s.cp, s.save)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: %v, want context.Canceled", err)
	}
	f.OnPart(nil)
	f.Idle()
	first := f.Stored()
	cp := s.reload()
	if cp.UploadID == "" || len(cp.Parts) > 4 || len(first) < 4 {
		t.Fatalf("after the cancel: checkpoint %s, stored %v", s.saved, first)
	}
	unsaved := len(first) - len(cp.Parts)
	before := len(f.Requests(fakeobs.UploadPart))
	// Another part size asked for on the resume: the upload keeps its own.
	u.PartSize = 4 * partSize
	res, err := u.Upload(context.Background(), file, bucket, key, cp, s.save)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, data, res)
	for n, c := range f.Stored() {
		if c != 1 {
			t.Errorf("part %d stored %d times", n, c)
		}
	}
	for _, r := range f.Requests(fakeobs.UploadPart)[before:] {
		if first[r.PartNumber] > 0 {
			t.Errorf("resumed run sent part %d again, which OBS held", r.PartNumber)
		}
	}
	if res.PartsSent != 13-len(first) {
		t.Errorf("resumed run sent %d parts, want %d", res.PartsSent, 13-len(first))
	}
	// Parts OBS held that the checkpoint did not list (confirmed within
	// the last second, or in flight) were checked against the file.
	want := fmt.Sprintf("OBS holds %d of 13 parts of this file (%d checked against the file)", len(first), unsaved)
	if !strings.Contains(strings.Join(*notes, "\n"), want) {
		t.Errorf("notes lack %q: %q", want, *notes)
	}
}

// TestUploadBrokenLinkResumes: OBS refuses every part after the fifth
// (503); the upload gives up after its retries, and a later run sends
// only what is missing.
func TestUploadBrokenLinkResumes(t *testing.T) {
	f, file, data := setup(t, 9*partSize)
	u, _ := uploader(t, f, sk)
	u.Parallel = 1
	f.FailPartsAfter(5, fakeobs.Failure{Status: 503, Code: "ServiceUnavailable", Message: "Please reduce your request rate"})
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	_, err := u.Upload(context.Background(), file, bucket, key, s.cp, s.save)
	var oe *obsupload.Error
	if !errors.As(err, &oe) || oe.StatusCode != 503 || oe.RequestID == "" {
		t.Fatalf("upload over a broken link: %v, want the 503 with its request ID", err)
	}
	if n := len(f.PartsSent()); n != 6 || f.PartsSent()[6] != 3 {
		t.Errorf("parts sent %v: want 1-5 once and part 6 three times (attempts)", f.PartsSent())
	}
	f.ClearFailures()
	res, err := u.Upload(context.Background(), file, bucket, key, s.reload(), s.save)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, data, res)
	if res.PartsSent != 4 {
		t.Errorf("resumed run sent %d parts, want 4", res.PartsSent)
	}
}

// TestUploadThrottledAndLostAnswers: 429 and 503 SlowDown with
// Retry-After are waited out; an answer lost after OBS stored the part,
// and a lost Complete, are repeated safely.
func TestUploadThrottledAndLostAnswers(t *testing.T) {
	f, file, data := setup(t, 3*partSize+1)
	u, notes := uploader(t, f, sk)
	f.Inject(fakeobs.Initiate, fakeobs.Failure{Status: 429, Code: "TooManyRequests", Message: "slow down", RetryAfter: "1"})
	f.Inject(fakeobs.UploadPart, fakeobs.Failure{Status: 503, Code: "SlowDown", Message: "Please reduce your request rate"})
	f.InjectAccepted(fakeobs.UploadPart, fakeobs.Failure{})
	f.InjectAccepted(fakeobs.Complete, fakeobs.Failure{})
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	t0 := time.Now()
	res, err := u.Upload(context.Background(), file, bucket, key, s.cp, s.save)
	if err != nil {
		t.Fatalf("%v\nnotes: %q", err, *notes)
	}
	checkObject(t, f, data, res)
	if d := time.Since(t0); d < time.Second {
		t.Errorf("took %s: the Retry-After of 1s was not honoured", d)
	}
	all := strings.Join(*notes, "\n")
	for _, want := range []string{"HTTP 429 TooManyRequests", "retrying in 1s", "HTTP 503 SlowDown"} {
		if !strings.Contains(all, want) {
			t.Errorf("notes lack %q:\n%s", want, all)
		}
	}
	if n := len(f.Requests(fakeobs.Complete)); n != 2 {
		t.Errorf("%d Complete requests, want 2 (the first answer lost)", n)
	}
}

// TestUploadFileChanged: the file is rewritten between runs; the old
// upload is aborted and the new content uploaded whole.
func TestUploadFileChanged(t *testing.T) {
	f, file, _ := setup(t, 6*partSize)
	u, notes := uploader(t, f, sk)
	ctx := cancelAfter(t, f, 2)
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	if _, err := u.Upload(ctx, file, bucket, key, s.cp, s.save); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: %v", err)
	}
	f.OnPart(nil)
	old := s.reload().UploadID
	data := bytes.Repeat([]byte("prepagent"), 5*partSize/9)
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := u.Upload(context.Background(), file, bucket, key, s.reload(), s.save)
	if err != nil {
		t.Fatal(err)
	}
	checkObject(t, f, data, res)
	if len(f.Requests(fakeobs.Abort)) != 1 || !strings.Contains(strings.Join(*notes, "\n"), "changed since upload "+old) {
		t.Errorf("old upload %s not aborted (%d aborts), notes %q", old, len(f.Requests(fakeobs.Abort)), *notes)
	}
}

// TestUploadRefused: a wrong secret key is refused with the service's
// reason, once (403 is not retried); an unknown bucket likewise.
func TestUploadRefused(t *testing.T) {
	f, file, _ := setup(t, partSize)
	u, _ := uploader(t, f, "WRONGSECRET")
	_, err := u.Upload(context.Background(), file, bucket, key, &obsupload.Checkpoint{}, func() error { return nil })
	if err == nil || !strings.Contains(err.Error(), "HTTP 403 SignatureDoesNotMatch") || len(f.Requests("")) != 1 {
		t.Errorf("wrong key: %v after %d requests", err, len(f.Requests("")))
	}
	u, _ = uploader(t, f, sk)
	_, err = u.Upload(context.Background(), file, "nobucket", key, &obsupload.Checkpoint{}, func() error { return nil })
	if err == nil || !strings.Contains(err.Error(), "NoSuchBucket") {
		t.Errorf("unknown bucket: %v", err)
	}
}

func TestPartSizeFor(t *testing.T) {
	for _, tc := range []struct{ size, want, got int64 }{
		{1 << 30, 0, obsupload.DefaultPartSize},
		{1 << 20, 1, obsupload.MinPartSize},
		{1 << 30, 1, 1 << 20},          // 10000 parts of 100 KiB are too few: 1 MiB
		{1 << 40, 64 << 20, 105 << 20}, // 1 TiB / 10000 parts = 104.9 MiB, rounded up to whole MiB
	} {
		if got := obsupload.PartSizeFor(tc.size, tc.want); got != tc.got || (tc.size+got-1)/got > obsupload.MaxParts {
			t.Errorf("PartSizeFor(%d, %d) = %d, want %d", tc.size, tc.want, got, tc.got)
		}
	}
}

// TestStalledServer: a server that takes the request and never answers
// fails the call after Timeout (each attempt), not never.
func TestStalledServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
	}))
	defer srv.Close()
	store, err := obsupload.NewOBS(obsupload.Config{Endpoint: srv.URL, AK: ak, SK: sk, Timeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	_, file, _ := setup(t, partSize)
	u := &obsupload.Uploader{Store: store, Retry: backoff.Policy{Attempts: 2, Base: time.Millisecond}}
	t0 := time.Now()
	_, err = u.Upload(context.Background(), file, bucket, key, &obsupload.Checkpoint{}, func() error { return nil })
	if err == nil || time.Since(t0) > 5*time.Second {
		t.Errorf("stalled server: %v after %s, want a timeout within seconds", err, time.Since(t0))
	}
}

// TestUploadEncryptedBucket: a bucket with default SSE-KMS answers ETags
// that are not MD5s, as OBS documents for server-side encryption. The
// upload goes through on OBS's Content-MD5 check, quotes OBS's own part
// ETags in Complete, resumes after a cancel without trusting a held part
// whose answer it never saved, and a rerun sends nothing.
func TestUploadEncryptedBucket(t *testing.T) {
	old := obsupload.SaveEvery
	obsupload.SaveEvery = 0 // every confirmed part saved: a deterministic resume
	t.Cleanup(func() { obsupload.SaveEvery = old })
	f, file, data := setup(t, 9*partSize+77)
	f.EncryptBucket(bucket)
	u, notes := uploader(t, f, sk)
	ctx := cancelAfter(t, f, 4)
	s := &saver{t: t, cp: &obsupload.Checkpoint{}}
	if _, err := u.Upload(ctx, file, bucket, key, s.cp, s.save); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled upload: %v", err)
	}
	f.OnPart(nil)
	f.Idle()
	cp := s.reload()
	if !cp.Encrypted || len(cp.ETags) != len(cp.Parts) || len(cp.Parts) == 0 {
		t.Fatalf("checkpoint after the cancel: %s", s.saved)
	}
	for n, e := range cp.ETags {
		if e == cp.Parts[n] {
			t.Errorf("part %d: recorded ETag %s is its MD5: the fake does not stand for an encrypted bucket", n, e)
		}
	}
	confirmed := len(cp.Parts)
	before := len(f.Requests(fakeobs.UploadPart))
	s.cp = cp
	res, err := u.Upload(context.Background(), file, bucket, key, cp, s.save)
	if err != nil {
		t.Fatal(err)
	}
	got, etag, ok := f.Object(bucket, key)
	if !ok || !bytes.Equal(got, data) || res.ETag != etag || etag == wantETag(t, data) || res.Size != int64(len(data)) {
		t.Fatalf("object present %v, equal %v, ETag %s (multipart MD5s %s), result %+v", ok, bytes.Equal(got, data), etag, wantETag(t, data), res)
	}
	if sent := len(f.Requests(fakeobs.UploadPart)) - before; sent != 10-confirmed || res.PartsSent != sent {
		t.Errorf("resume sent %d parts (result %d); %d were confirmed of 10", sent, res.PartsSent, confirmed)
	}
	if !strings.Contains(strings.Join(*notes, "\n"), "server-side encrypted") {
		t.Errorf("notes %q do not say the resume trusted only confirmed parts", *notes)
	}
	if ups := f.Uploads(); len(ups) != 0 {
		t.Errorf("unfinished uploads left: %v", ups)
	}
	n := len(f.Requests(""))
	if res, err := u.Upload(context.Background(), file, bucket, key, s.reload(), s.save); err != nil || !res.Skipped || len(f.Requests(fakeobs.UploadPart)) != before+10-confirmed {
		t.Errorf("rerun: %+v, %v, %d more requests", res, err, len(f.Requests(""))-n)
	}
}
