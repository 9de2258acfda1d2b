package obsupload

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prepagent/prepagent/pkg/backoff"
)

// Limits of OBS multipart uploads: parts of 100 KiB to 5 GiB (the last
// may be smaller), at most 10000 of them.
const (
	MinPartSize     = 100 << 10
	MaxPartSize     = 5 << 30
	MaxParts        = 10000
	DefaultPartSize = 64 << 20
)

// SaveEvery is how often confirmed parts are saved to the checkpoint
// while parts are sent (a new upload ID and the end are saved at once).
var SaveEvery = time.Second

// Checkpoint is an upload's resumable state. The caller stores it (as
// JSON) whenever the uploader calls save, so a killed run resumes; a
// zero Checkpoint starts a new upload.
type Checkpoint struct {
	Bucket   string `json:"bucket"`
	Key      string `json:"key"`
	UploadID string `json:"upload_id,omitempty"`
	// Size and ModTime (Unix nanoseconds) identify the file's content: a
	// file changed since is uploaded anew, never mixed with old parts.
	Size     int64 `json:"size"`
	ModTime  int64 `json:"mtime_ns"`
	PartSize int64 `json:"part_size,omitempty"`
	// Parts are the hex MD5s of the parts OBS confirmed, by part number.
	Parts map[int]string `json:"parts,omitempty"`
	// Encrypted says OBS stores this upload with server-side encryption;
	// ETags then has the ETag it answered for each confirmed part (not
	// an MD5), which Complete must quote and a resume compares.
	Encrypted bool           `json:"encrypted,omitempty"`
	ETags     map[int]string `json:"etags,omitempty"`
	// Done is set once the object is complete and verified; ETag is its
	// multipart ETag.
	Done bool   `json:"done,omitempty"`
	ETag string `json:"etag,omitempty"`
}

// Progress is one report of an upload's advance.
type Progress struct {
	Done, Total int64 // bytes in parts OBS confirmed, file size
	Parts       int   // parts confirmed
	PartsTotal  int
	// Sent is the bytes sent by this run (not those of earlier runs).
	Sent    int64
	Elapsed time.Duration
}

// Result is a finished upload.
type Result struct {
	Bucket, Key string
	Size        int64
	ETag        string // the object's multipart ETag, verified
	Parts       int
	// PartsSent counts the parts this run sent: 0 when the object was
	// complete already, fewer than Parts after a resume.
	PartsSent int
	// Skipped is true when an earlier run had finished the upload.
	Skipped bool
}

// Uploader sends files to a Store.
type Uploader struct {
	Store Store
	// PartSize is the wanted part size (DefaultPartSize when 0); it
	// grows when the file would need more than MaxParts parts.
	PartSize int64
	// Parallel is the number of parts in flight (default 3).
	Parallel int
	// Retry repeats throttled and failed calls (default 6 attempts, 2s
	// doubling to 30s, at least the server's Retry-After).
	Retry backoff.Policy
	// Note hears of decisions worth a line of output (resume, restart);
	// may be nil.
	Note func(msg string)
	// OnRetry hears of each retried call and its delay; nil sends them
	// to Note.
	OnRetry func(err error, delay time.Duration)
	// OnProgress hears of each confirmed part; may be nil.
	OnProgress func(Progress)
}

func (u *Uploader) note(format string, a ...any) {
	if u.Note != nil {
		u.Note(fmt.Sprintf(format, a...))
	}
}

// PartSizeFor is the part size used for a file of size bytes when
// want is asked for: at least MinPartSize, enough for MaxParts parts.
func PartSizeFor(size, want int64) int64 {
	if want <= 0 {
		want = DefaultPartSize
	}
	want = max(want, MinPartSize)
	if need := (size + MaxParts - 1) / MaxParts; need > want {
		// Round up to whole MiB: readable numbers in the state file.
		want = (need + (1<<20 - 1)) &^ (1<<20 - 1)
	}
	return min(want, MaxPartSize)
}

// validPartSize says whether parts of ps bytes can carry size bytes.
func validPartSize(size, ps int64) bool {
	return ps >= MinPartSize && ps <= MaxPartSize && (size+ps-1)/ps <= MaxParts
}

// partRange is part n's offset and length.
func (cp *Checkpoint) partRange(n int) (int64, int64) {
	off := int64(n-1) * cp.PartSize
	return off, min(cp.PartSize, cp.Size-off)
}

func (cp *Checkpoint) partCount() int {
	return int((cp.Size + cp.PartSize - 1) / cp.PartSize)
}

// Upload sends file to bucket/key, resuming from cp, and calls save
// after every change of cp (a new upload ID, each confirmed part, the
// end). It returns once OBS holds the whole object with the expected
// size and ETag.
func (u *Uploader) Upload(ctx context.Context, file, bucket, key string, cp *Checkpoint, save func() error) (Result, error) {
	if bucket == "" || key == "" {
		return Result{}, fmt.Errorf("%w: bucket and object key are required", ErrInput)
	}
	f, err := os.Open(file)
	if err != nil {
		return Result{}, fmt.Errorf("open %s: %w", file, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Result{}, fmt.Errorf("stat %s: %w", file, err)
	}
	if !st.Mode().IsRegular() || st.Size() == 0 {
		return Result{}, fmt.Errorf("%w: %s is not a non-empty regular file", ErrInput, file)
	}
	if u.Retry.Attempts == 0 {
		u.Retry = backoff.Policy{Attempts: 6, Base: 2 * time.Second, Max: 30 * time.Second}
	}
	size, mtime := st.Size(), st.ModTime().UnixNano()
	partSize := PartSizeFor(size, u.PartSize)
	same := cp.Bucket == bucket && cp.Key == key && cp.Size == size && cp.ModTime == mtime
	if same && cp.UploadID != "" && !cp.Done && validPartSize(size, cp.PartSize) {
		// A resumed upload keeps its part size: the parts OBS holds
		// were cut with it.
		partSize = cp.PartSize
	}

	if cp.Done && same {
		obj, err := u.head(ctx, bucket, key)
		switch {
		case err == nil && obj.Size == size && obj.ETag == cp.ETag:
			return Result{Bucket: bucket, Key: key, Size: size, ETag: cp.ETag, Parts: cp.partCount(), Skipped: true}, nil
		case err == nil || errors.Is(err, ErrNotFound):
			u.note("obs://%s/%s is no longer the object uploaded earlier (ETag %s): uploading it again", bucket, key, cp.ETag)
		default:
			return Result{}, err
		}
	}
	if cp.UploadID != "" && (!same || cp.PartSize != partSize || cp.Done) {
		if !cp.Done {
			u.note("%s changed since upload %s started (size or modification time): starting over", file, cp.UploadID)
			// Best effort: unfinished parts cost storage until OBS
			// expires them.
			if err := u.Store.Abort(ctx, cp.Bucket, cp.Key, cp.UploadID); err != nil && !errors.Is(err, ErrNoSuchUpload) {
				u.note("could not abort the old upload %s (%v); OBS keeps its parts until they expire", cp.UploadID, err)
			}
		}
		cp.UploadID = ""
	}
	if cp.UploadID == "" {
		*cp = Checkpoint{Bucket: bucket, Key: key, Size: size, ModTime: mtime, PartSize: partSize}
	}
	// Which parts OBS has already: ask it, it is the truth.
	if cp.UploadID != "" {
		var held []Part
		err := u.retry(ctx, func() (err error) {
			held, err = u.Store.ListParts(ctx, bucket, key, cp.UploadID)
			return err
		})
		switch {
		case errors.Is(err, ErrNoSuchUpload):
			u.note("upload %s is gone from OBS (aborted or expired): starting over", cp.UploadID)
			*cp = Checkpoint{Bucket: bucket, Key: key, Size: size, ModTime: mtime, PartSize: partSize}
		case err != nil:
			return Result{}, err
		default:
			if err := u.reconcile(f, cp, held); err != nil {
				return Result{}, err
			}
		}
	}
	if cp.UploadID == "" {
		var id string
		err := u.retry(ctx, func() (err error) {
			id, err = u.Store.Initiate(ctx, bucket, key)
			return err
		})
		if err != nil {
			return Result{}, err
		}
		cp.UploadID, cp.Parts = id, map[int]string{}
		if err := save(); err != nil {
			return Result{}, err
		}
	} else if err := save(); err != nil {
		return Result{}, err
	}
	sent, err := u.sendParts(ctx, f, cp, save)
	if err != nil {
		return Result{}, err
	}
	etag, err := u.complete(ctx, cp)
	if err != nil {
		return Result{}, err
	}
	cp.Done, cp.ETag = true, etag
	if err := save(); err != nil {
		return Result{}, err
	}
	return Result{Bucket: bucket, Key: key, Size: size, ETag: etag, Parts: cp.partCount(), PartsSent: sent}, nil
}

// reconcile keeps the parts OBS holds whose content is this file's: the
// ETag of a part is its MD5, compared with the one recorded when it was
// sent, or computed from the file for a part whose answer the last run
// never saw (killed while it was in flight).
//
// In an encrypted upload an ETag is not an MD5, so only parts this upload
// recorded as confirmed (OBS checked their Content-MD5 on receipt) are
// kept, when OBS still holds them with the ETag it answered then; a part
// whose answer was never saved is sent again (its number replaces it).
func (u *Uploader) reconcile(f *os.File, cp *Checkpoint, held []Part) error {
	md5s, etags := cp.Parts, cp.ETags
	cp.Parts = map[int]string{}
	if cp.Encrypted {
		cp.ETags = map[int]string{}
	}
	n := cp.partCount()
	kept, checked := 0, 0
	for _, p := range held {
		if p.Number < 1 || p.Number > n {
			continue
		}
		if _, size := cp.partRange(p.Number); p.Size != size {
			continue
		}
		sum := md5s[p.Number]
		if cp.Encrypted {
			if sum == "" || etags[p.Number] != p.ETag {
				continue
			}
			cp.ETags[p.Number] = p.ETag
		} else {
			if sum == "" {
				var err error
				if sum, err = partMD5(f, cp, p.Number); err != nil {
					return err
				}
				checked++
			}
			if sum != p.ETag {
				continue
			}
		}
		cp.Parts[p.Number] = sum
		kept++
	}
	if cp.Encrypted {
		u.note("resuming upload %s: OBS holds %d of %d parts of this file (server-side encrypted: parts whose answer was not saved are sent again)", cp.UploadID, kept, n)
	} else {
		u.note("resuming upload %s: OBS holds %d of %d parts of this file (%d checked against the file)", cp.UploadID, kept, n, checked)
	}
	return nil
}

func partMD5(f *os.File, cp *Checkpoint, n int) (string, error) {
	off, size := cp.partRange(n)
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, size)); err != nil {
		return "", fmt.Errorf("read part %d of %s: %w", n, f.Name(), err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (u *Uploader) retry(ctx context.Context, fn func() error) error {
	return u.Retry.Do(ctx, retryable(ctx), func(err error, d time.Duration) {
		if u.OnRetry != nil {
			u.OnRetry(err, d)
			return
		}
		u.note("%v; retrying in %s", err, d.Round(time.Millisecond))
	}, fn)
}

func (u *Uploader) head(ctx context.Context, bucket, key string) (Object, error) {
	var obj Object
	err := u.retry(ctx, func() (err error) {
		obj, err = u.Store.Head(ctx, bucket, key)
		return err
	})
	return obj, err
}

// sendParts uploads the parts cp lacks, Parallel at a time, and returns
// how many it sent. The first failure stops the others.
func (u *Uploader) sendParts(ctx context.Context, f *os.File, cp *Checkpoint, save func() error) (int, error) {
	n := cp.partCount()
	var todo []int
	var done int64
	for i := 1; i <= n; i++ {
		if cp.Parts[i] == "" {
			todo = append(todo, i)
		} else {
			_, size := cp.partRange(i)
			done += size
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu    sync.Mutex
		sent  int64
		count int
		start = time.Now()
		saved = start
		wg    sync.WaitGroup
	)
	jobs := make(chan int)
	par := max(u.Parallel, 1)
	if u.Parallel == 0 {
		par = 3
	}
	for range min(par, max(len(todo), 1)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for num := range jobs {
				sum, ans, err := u.sendPart(ctx, f, cp, num)
				if err != nil {
					cancel(err)
					continue
				}
				_, size := cp.partRange(num)
				mu.Lock()
				cp.Parts[num] = sum
				if ans.Encrypted {
					if cp.ETags == nil {
						cp.ETags = map[int]string{}
					}
					cp.Encrypted, cp.ETags[num] = true, ans.ETag
				}
				done += size
				sent += size
				count++
				// Once a second is enough: a part confirmed but not
				// saved is found by the next run in ListParts and
				// checked against the file. Thousands of parts would
				// otherwise rewrite the state thousands of times.
				if time.Since(saved) >= SaveEvery || count == len(todo) {
					err, saved = save(), time.Now()
				}
				p := Progress{Done: done, Total: cp.Size, Parts: len(cp.Parts), PartsTotal: n, Sent: sent, Elapsed: time.Since(start)}
				mu.Unlock()
				if err != nil {
					cancel(err)
					continue
				}
				if u.OnProgress != nil {
					u.OnProgress(p)
				}
			}
		}()
	}
feed:
	for _, num := range todo {
		select {
		case jobs <- num:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return count, err
	}
	return count, nil
}

// sendPart reads part num twice: once for its MD5, once to send it. OBS
// checks the Content-MD5, so a file changed in between is refused, not
// stored.
//
// Without encryption OBS's ETag must be the part's MD5. With it (the
// answer says so) the ETag is not an MD5 and OBS's own Content-MD5 check
// is the proof; the ETag is kept for Complete.
func (u *Uploader) sendPart(ctx context.Context, f *os.File, cp *Checkpoint, num int) (string, PartAnswer, error) {
	off, size := cp.partRange(num)
	h := md5.New()
	if _, err := io.Copy(h, io.NewSectionReader(f, off, size)); err != nil {
		return "", PartAnswer{}, fmt.Errorf("read part %d of %s: %w", num, f.Name(), err)
	}
	sum := h.Sum(nil)
	want := hex.EncodeToString(sum)
	var ans PartAnswer
	err := u.retry(ctx, func() (err error) {
		ans, err = u.Store.UploadPart(ctx, PartUpload{Bucket: cp.Bucket, Key: cp.Key, UploadID: cp.UploadID, Number: num,
			Body: io.NewSectionReader(f, off, size), Size: size, MD5: sum})
		return err
	})
	if err != nil {
		return "", PartAnswer{}, err
	}
	if !ans.Encrypted && ans.ETag != want {
		return "", PartAnswer{}, fmt.Errorf("%w: part %d: OBS answered ETag %q, the part's MD5 is %s", ErrChecksum, num, ans.ETag, want)
	}
	return want, ans, nil
}

// MultipartETag is the ETag OBS gives an object made of parts with these
// MD5s (hex, in part order): MD5 of the concatenated binary MD5s, "-",
// the number of parts.
func MultipartETag(md5s []string) (string, error) {
	h := md5.New()
	for _, s := range md5s {
		b, err := hex.DecodeString(s)
		if err != nil || len(b) != md5.Size {
			return "", fmt.Errorf("%w: part MD5 %q", ErrChecksum, s)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(md5s)), nil
}

// complete joins the parts and checks the object: its ETag must be the
// multipart ETag of the parts' MD5s and its size the file's. A Complete
// whose answer was lost is repeated; OBS then says NoSuchUpload, and the
// object itself tells whether the first one went through.
func (u *Uploader) complete(ctx context.Context, cp *Checkpoint) (string, error) {
	n := cp.partCount()
	parts := make([]Part, 0, n)
	sums := make([]string, 0, n)
	for i := 1; i <= n; i++ {
		if cp.Parts[i] == "" {
			return "", fmt.Errorf("upload %s: part %d was never confirmed", cp.UploadID, i)
		}
		_, size := cp.partRange(i)
		etag := cp.Parts[i]
		if cp.Encrypted {
			if etag = cp.ETags[i]; etag == "" {
				return "", fmt.Errorf("upload %s: encrypted part %d has no recorded ETag", cp.UploadID, i)
			}
		}
		parts = append(parts, Part{Number: i, ETag: etag, Size: size})
		sums = append(sums, cp.Parts[i])
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	// want is the object's ETag: the multipart ETag of the parts' MD5s.
	// In an encrypted upload no ETag is an MD5: the object must show the
	// ETag Complete answered (nothing to compare when that answer was
	// lost), and its size and every part's checked Content-MD5 are the
	// proof.
	var want string
	if !cp.Encrypted {
		var err error
		if want, err = MultipartETag(sums); err != nil {
			return "", err
		}
	}
	var etag string
	err := u.retry(ctx, func() (err error) {
		etag, err = u.Store.Complete(ctx, cp.Bucket, cp.Key, cp.UploadID, parts)
		return err
	})
	if err != nil && !errors.Is(err, ErrNoSuchUpload) {
		return "", err
	}
	if cp.Encrypted && err == nil {
		want = etag
	}
	if err == nil && etag != want {
		return "", fmt.Errorf("%w: OBS made obs://%s/%s with ETag %q, the parts give %s", ErrChecksum, cp.Bucket, cp.Key, etag, want)
	}
	obj, herr := u.head(ctx, cp.Bucket, cp.Key)
	if herr != nil {
		if err != nil {
			return "", errors.Join(err, herr)
		}
		return "", herr
	}
	if obj.Size != cp.Size || want != "" && obj.ETag != want {
		if err != nil {
			return "", fmt.Errorf("%w, and obs://%s/%s is not this file (size %d, ETag %q; want %d, %s)", err, cp.Bucket, cp.Key, obj.Size, obj.ETag, cp.Size, want)
		}
		return "", fmt.Errorf("%w: obs://%s/%s has size %d and ETag %q, want %d and %s", ErrChecksum, cp.Bucket, cp.Key, obj.Size, obj.ETag, cp.Size, want)
	}
	return obj.ETag, nil
}
