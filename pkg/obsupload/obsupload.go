// Package obsupload puts a local file into an OBS bucket as a multipart
// upload that survives a killed process: the upload's identity (bucket,
// key, upload ID, the file's size and modification time, the part size)
// and the MD5 of every part OBS confirmed live in a Checkpoint the caller
// saves after each change. A later run with the same file asks OBS which
// parts it holds (ListParts) and sends only the others. Every part carries
// its Content-MD5, the ETag OBS answers must be that MD5, and the finished
// object must have the file's size and the multipart ETag of those MD5s
// (OBS: MD5(M1..Mn)-n).
//
// OBS is reached through the Store interface; OBS (obs.go) implements it
// with the official SDK github.com/huaweicloud/huaweicloud-sdk-go-obs, and
// package fakeobs serves the same S3-style HTTP API on a local port for
// tests. The uploader reads the file and writes nothing on the local
// machine: the checkpoint is the caller's to store.
package obsupload

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"time"

	"github.com/prepagent/prepagent/pkg/backoff"
)

// Store is the part of the OBS API an upload uses. Methods return *Error
// for an error answer of the service; any other error means no answer
// came (the request may or may not have been carried out).
type Store interface {
	// Initiate starts a multipart upload and returns its ID.
	Initiate(ctx context.Context, bucket, key string) (uploadID string, err error)
	// UploadPart sends one part with its Content-MD5 and returns what
	// OBS answered.
	UploadPart(ctx context.Context, p PartUpload) (PartAnswer, error)
	// ListParts returns every part OBS holds for the upload, all pages.
	ListParts(ctx context.Context, bucket, key, uploadID string) ([]Part, error)
	// Complete joins the parts into the object and returns its ETag.
	Complete(ctx context.Context, bucket, key, uploadID string, parts []Part) (etag string, err error)
	// Abort discards an upload and its parts.
	Abort(ctx context.Context, bucket, key, uploadID string) error
	// Head returns the object's size and ETag; ErrNotFound when absent.
	Head(ctx context.Context, bucket, key string) (Object, error)
}

// PartUpload is one UploadPart call.
type PartUpload struct {
	Bucket, Key, UploadID string
	Number                int
	Body                  io.Reader
	Size                  int64
	MD5                   []byte // of Body, sent as Content-MD5
}

// PartAnswer is OBS's answer to one part upload.
type PartAnswer struct {
	ETag string // unquoted
	// Encrypted is set when OBS stored the part with server-side
	// encryption (the bucket's default SSE-KMS or SSE-OBS): the ETag is
	// then not the part's MD5 (OBS documents it so), and the only
	// proof of the content is the Content-MD5 OBS checked on receipt.
	Encrypted bool
}

// Part is a part OBS holds.
type Part struct {
	Number int
	ETag   string // unquoted
	Size   int64
}

// Object is what HEAD says about an object.
type Object struct {
	Size int64
	ETag string // unquoted
}

// Errors for errors.Is.
var (
	ErrNotFound     = errors.New("no such object")
	ErrNoSuchUpload = errors.New("no such multipart upload")
	ErrChecksum     = errors.New("checksum mismatch")
	ErrInput        = errors.New("invalid upload input")
)

// Error is an error answer of OBS; errors.Is tells the answers the
// uploader acts on (ErrNotFound, ErrNoSuchUpload).
type Error struct{ backoff.Answer }

// Is lets errors.Is see the answers the uploader acts on.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == 404 && (e.Code == "" || e.Code == "NoSuchKey")
	case ErrNoSuchUpload:
		return e.StatusCode == 404 && e.Code == "NoSuchUpload"
	}
	return false
}

// retryable classifies errors for backoff: error answers that may pass,
// and failures without an answer. Every call of an upload is safe to
// repeat: a part sent twice replaces itself, a second Initiate only
// leaves an empty upload behind, a Complete already done answers
// NoSuchUpload and the object is then checked with Head.
func retryable(ctx context.Context) func(error) (bool, time.Duration) {
	return func(err error) (bool, time.Duration) {
		if ctx.Err() != nil {
			return false, 0
		}
		var oe *Error
		if errors.As(err, &oe) {
			return oe.Retryable(), oe.RetryAfter
		}
		var ue *url.Error
		var ne net.Error
		return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF), 0
	}
}
