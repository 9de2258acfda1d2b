package obsupload

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-obs/obs"

	"github.com/prepagent/prepagent/pkg/backoff"
)

// Config says where OBS is and as whom to call it.
type Config struct {
	// Endpoint is the OBS endpoint, e.g. https://obs.cn-north-4.myhuaweicloud.com.
	// An IP address (tests) selects path-style requests.
	Endpoint string
	// AK, SK and, for temporary credentials, SecurityToken sign requests.
	AK, SK, SecurityToken string
	// Timeout bounds connecting, each read or write on the connection,
	// and the wait for an answer's headers (default 60s). A part being
	// sent is not bounded as a whole: a slow link only has to keep moving.
	Timeout time.Duration
	// UserAgent is sent with every request (default "prepctl").
	UserAgent string
}

// EndpointFor is the public OBS endpoint of a region.
func EndpointFor(region string) string {
	return "https://obs." + region + ".myhuaweicloud.com"
}

// OBS implements Store with the official OBS SDK. The SDK's own retries
// are off (they sleep without a context and repeat throttled calls at
// once); the Uploader retries instead.
type OBS struct {
	cfg  Config
	http *http.Client
}

// NewOBS checks the configuration and prepares the HTTP client shared by
// all calls (one connection pool).
func NewOBS(cfg Config) (*OBS, error) {
	if cfg.Endpoint == "" {
		return nil, fmt.Errorf("%w: no OBS endpoint", ErrInput)
	}
	if cfg.AK == "" || cfg.SK == "" {
		return nil, fmt.Errorf("%w: OBS needs an access key and a secret key", ErrInput)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "prepctl"
	}
	d := &net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &idleConn{Conn: c, timeout: cfg.Timeout}, nil
		},
		ForceAttemptHTTP2:     false,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		// OBS answers plain bytes; the SDK asks for no compression either.
		DisableCompression: true,
	}
	// Redirects are the SDK's to follow (it re-signs them), not net/http's.
	hc := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	o := &OBS{cfg: cfg, http: hc}
	// Fail on a malformed endpoint now, before any file is read.
	if _, err := o.client(context.Background()); err != nil {
		return nil, err
	}
	return o, nil
}

// idleConn fails a read or write that makes no progress for timeout, as
// the SDK's own transport does: a dead peer must not hang an upload.
// Every write also moves the read deadline on: net/http reads the answer
// in a goroutine blocked since the request began, and a part that takes
// minutes to send is progress, not a stall.
type idleConn struct {
	net.Conn
	timeout time.Duration
}

func (c *idleConn) Read(b []byte) (int, error) {
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return c.Conn.Read(b)
}

func (c *idleConn) Write(b []byte) (int, error) {
	_ = c.Conn.SetWriteDeadline(time.Now().Add(c.timeout))
	n, err := c.Conn.Write(b)
	_ = c.Conn.SetReadDeadline(time.Now().Add(c.timeout))
	return n, err
}

// client is an SDK client bound to ctx: the SDK takes a context per
// client, not per call, and building one over the shared http.Client
// costs no connection.
func (o *OBS) client(ctx context.Context) (*obs.ObsClient, error) {
	// The SDK's option type is unexported: no slice of options to build.
	// An empty security token is what the SDK holds without one.
	c, err := obs.New(o.cfg.AK, o.cfg.SK, o.cfg.Endpoint,
		obs.WithHttpClient(o.http),
		obs.WithRequestContext(ctx),
		obs.WithMaxRetryCount(0),
		obs.WithUserAgent(o.cfg.UserAgent),
		obs.WithSecurityToken(o.cfg.SecurityToken))
	if err != nil {
		return nil, fmt.Errorf("OBS client for %s: %w", o.cfg.Endpoint, err)
	}
	return c, nil
}

// obsError turns the SDK's error into *Error, keeping other errors (no
// answer) wrapped with what was being done.
func obsError(op string, err error) error {
	if err == nil {
		return nil
	}
	var oe obs.ObsError
	if errors.As(err, &oe) {
		e := &Error{backoff.Answer{Service: "OBS", Op: op, StatusCode: oe.StatusCode, Code: oe.Code, Message: oe.Message, RequestID: oe.RequestId}}
		if v := oe.ResponseHeaders["retry-after"]; len(v) > 0 {
			e.RetryAfter = backoff.RetryAfter(v[0], time.Now())
		}
		if e.StatusCode == 0 {
			// The SDK leaves StatusCode unset on some paths; Status
			// reads "503 Service Unavailable".
			fmt.Sscanf(oe.Status, "%d", &e.StatusCode)
		}
		return e
	}
	return fmt.Errorf("OBS %s: %w", op, err)
}

func unquote(etag string) string { return strings.Trim(etag, `"`) }

// Initiate implements Store.
func (o *OBS) Initiate(ctx context.Context, bucket, key string) (string, error) {
	c, err := o.client(ctx)
	if err != nil {
		return "", err
	}
	in := &obs.InitiateMultipartUploadInput{}
	in.Bucket, in.Key = bucket, key
	// The SDK would guess a MIME type from the key's extension.
	in.ContentType = "application/octet-stream"
	out, err := c.InitiateMultipartUpload(in)
	if err != nil {
		return "", obsError("initiate multipart upload of "+bucket+"/"+key, err)
	}
	if out.UploadId == "" {
		return "", fmt.Errorf("OBS initiate multipart upload of %s/%s: answer has no UploadId", bucket, key)
	}
	return out.UploadId, nil
}

// UploadPart implements Store.
func (o *OBS) UploadPart(ctx context.Context, p PartUpload) (PartAnswer, error) {
	c, err := o.client(ctx)
	if err != nil {
		return PartAnswer{}, err
	}
	out, err := c.UploadPart(&obs.UploadPartInput{Bucket: p.Bucket, Key: p.Key, UploadId: p.UploadID, PartNumber: p.Number,
		Body: p.Body, PartSize: p.Size, ContentMD5: base64.StdEncoding.EncodeToString(p.MD5)})
	if err != nil {
		return PartAnswer{}, obsError(fmt.Sprintf("upload part %d", p.Number), err)
	}
	return PartAnswer{ETag: unquote(out.ETag), Encrypted: out.SseHeader != nil}, nil
}

// ListParts implements Store, following NextPartNumberMarker.
func (o *OBS) ListParts(ctx context.Context, bucket, key, uploadID string) ([]Part, error) {
	c, err := o.client(ctx)
	if err != nil {
		return nil, err
	}
	var parts []Part
	marker := 0
	for page := 0; ; page++ {
		out, err := c.ListParts(&obs.ListPartsInput{Bucket: bucket, Key: key, UploadId: uploadID, PartNumberMarker: marker})
		if err != nil {
			return nil, obsError("list parts of upload "+uploadID, err)
		}
		for _, p := range out.Parts {
			parts = append(parts, Part{Number: p.PartNumber, ETag: unquote(p.ETag), Size: p.Size})
		}
		if !out.IsTruncated {
			break
		}
		// A truncated page that does not move the marker forward would
		// loop for ever.
		if out.NextPartNumberMarker <= marker || page > 10000 {
			return nil, fmt.Errorf("OBS list parts of upload %s: truncated page without progress (marker %d)", uploadID, out.NextPartNumberMarker)
		}
		marker = out.NextPartNumberMarker
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// Complete implements Store.
func (o *OBS) Complete(ctx context.Context, bucket, key, uploadID string, parts []Part) (string, error) {
	c, err := o.client(ctx)
	if err != nil {
		return "", err
	}
	in := &obs.CompleteMultipartUploadInput{Bucket: bucket, Key: key, UploadId: uploadID}
	for _, p := range parts {
		in.Parts = append(in.Parts, obs.Part{PartNumber: p.Number, ETag: `"` + p.ETag + `"`})
	}
	out, err := c.CompleteMultipartUpload(in)
	if err != nil {
		return "", obsError("complete multipart upload "+uploadID, err)
	}
	return unquote(out.ETag), nil
}

// Abort implements Store.
func (o *OBS) Abort(ctx context.Context, bucket, key, uploadID string) error {
	c, err := o.client(ctx)
	if err != nil {
		return err
	}
	_, err = c.AbortMultipartUpload(&obs.AbortMultipartUploadInput{Bucket: bucket, Key: key, UploadId: uploadID})
	return obsError("abort multipart upload "+uploadID, err)
}

// Head implements Store.
func (o *OBS) Head(ctx context.Context, bucket, key string) (Object, error) {
	c, err := o.client(ctx)
	if err != nil {
		return Object{}, err
	}
	in := &obs.GetObjectMetadataInput{}
	in.Bucket, in.Key = bucket, key
	out, err := c.GetObjectMetadata(in)
	if err != nil {
		return Object{}, obsError("head object "+bucket+"/"+key, err)
	}
	return Object{Size: out.ContentLength, ETag: unquote(out.ETag)}, nil
}
