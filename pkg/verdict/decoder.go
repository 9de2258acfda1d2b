package verdict

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"
)

// marker starts every protocol line.
const marker = "PREPAGENT-"

// Options select what a Decoder or Scan looks for.
type Options struct {
	// RunID selects one run; empty means the latest run in the input (the
	// run whose first line appeared last), so earlier runs are ignored.
	RunID string
	// Settle is how long Scan keeps reading after the selected run's
	// trailer line when its report is still incomplete or corrupt, hoping
	// for a clean copy (another console device, a re-send), before giving
	// up with a ReportError. Zero means 3 seconds.
	Settle time.Duration
	// Key, when set, is the shared verdict key: only runs whose verdict
	// line carries a valid hmac= under it are taken (and chosen as the
	// latest run); the others are reported as not authenticated.
	Key []byte
}

// Decoding limits: a console is input from the guest, which may flood it.
const (
	// maxDecodes bounds the decompressions of one run: each complete set
	// of chunks is decoded once, and a run whose copies keep differing
	// (a flood of altered chunks) is given up after this many sets.
	maxDecodes = 8
	// maxMem bounds the chunk text and verified reports a decoder holds
	// over all its runs; the oldest runs are dropped beyond it.
	maxMem = 32 << 20
	// maxBad bounds the remembered reasons for rejected chunks of a run.
	maxBad = 64
)

// decoded is what decoding one complete chunk set gave, kept so that the
// same set is never decoded twice.
type decoded struct {
	fail   string // the set does not decode (corrupted, too large)
	digest string // else the report's digest
	// head is the report's run_id/ready, for consistent().
	head reportHead
	// headErr is why the report is not a JSON object.
	headErr string
}

// runState is what the decoder knows about one run.
type runState struct {
	id    string
	order int // position of the run's first line among runs
	v     *Verdict
	// verdictAfterChunk is true once a verdict line came after a chunk:
	// the trailer, so the transmission is over.
	verdictAfterChunk bool
	total             int            // 0 until a valid chunk fixes it
	chunks            map[int]string // valid-looking chunks by 1-based index
	bad               map[int]string // why a chunk index was rejected (latest reason)
	notes             []string       // other anomalies, for the error message
	done              *Verdict       // verified
	fail              string         // why the last assembly failed
	// unauth says why the latest verdict line was refused under Key.
	unauth string
	// fp fingerprints the chunks held: the XOR of a keyed hash of each
	// (index, chunk), updated per line, so a set already decoded is
	// recognised without touching the others.
	fp      [sha256.Size]byte
	tried   map[[sha256.Size]byte]decoded
	decodes int
	size    int // bytes of chunk text held
}

func (r *runState) note(s string) {
	if len(r.notes) < 8 {
		r.notes = append(r.notes, s)
	}
}

// Decoder recovers verdicts from console output fed to it in arbitrary
// pieces. It never fails on input: lines that are not the protocol are
// noise, mangled protocol lines are remembered to explain a rejection.
// A Decoder is not safe for concurrent use.
type Decoder struct {
	opts    Options
	partial []byte
	line    int // number of complete lines seen
	runs    map[string]*runState
	seq     int
	// fpKey keys the chunk fingerprints: unknown to whoever writes the
	// console, so no chunk set can be crafted to collide with another.
	fpKey [32]byte
	fpMAC hash.Hash // HMAC under fpKey, reused
	// decodes counts decompressions (tests assert the bound).
	decodes int
}

// NewDecoder returns a decoder for opts.
func NewDecoder(opts Options) *Decoder {
	d := &Decoder{opts: opts, runs: map[string]*runState{}}
	_, _ = rand.Read(d.fpKey[:]) // never fails (crypto/rand panics instead)
	d.fpMAC = hmac.New(sha256.New, d.fpKey[:])
	return d
}

// Feed consumes console bytes. A line is processed once its "\n" arrives,
// so a line split across reads is rejoined.
func (d *Decoder) Feed(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			d.partial = append(d.partial, p...)
			d.trimPartial()
			return
		}
		d.partial = append(d.partial, p[:i]...)
		d.processLine(d.partial)
		d.partial = d.partial[:0]
		p = p[i+1:]
	}
}

// Break ends the current unterminated line (processing it) so the next
// Feed starts a new line: use it between polled snapshots of a console
// log, which do not continue each other.
func (d *Decoder) Break() {
	if len(d.partial) > 0 {
		d.processLine(d.partial)
		d.partial = d.partial[:0]
	}
}

// trimPartial bounds an unterminated line: ours are short, so a long one
// is noise; keep its last marker (or a tail that may begin one).
func (d *Decoder) trimPartial() {
	if len(d.partial) <= maxPartial {
		return
	}
	keep := len(marker) - 1
	if i := bytes.LastIndex(d.partial, []byte(marker)); i >= 0 && len(d.partial)-i <= maxPartial/2 {
		keep = len(d.partial) - i
	}
	d.partial = append(d.partial[:0], d.partial[len(d.partial)-keep:]...)
}

// processLine parses every marker in one console line. A line can hold
// several: a mangled line of ours that lost its newline runs into the
// next one.
func (d *Decoder) processLine(b []byte) {
	d.line++
	s := string(b)
	for {
		i := strings.Index(s, marker)
		if i < 0 {
			return
		}
		s = s[i:]
		j := strings.Index(s[len(marker):], marker)
		seg := s
		if j >= 0 {
			seg = s[:len(marker)+j]
			s = s[len(marker)+j:]
		} else {
			s = ""
		}
		d.segment(seg)
		if s == "" {
			return
		}
	}
}

// segment parses one marker-led piece of a line.
func (d *Decoder) segment(seg string) {
	// Serial logs end lines with "\r\n"; tolerate trailing blanks too.
	seg = strings.TrimRight(seg, "\r\n\t \x00")
	f := strings.Split(seg, " ")
	if len(f) < 2 || !strings.HasPrefix(f[1], "run=") {
		return // someone's shell echo, a log line quoting the prefix...
	}
	id := f[1][len("run="):]
	if !ValidRunID(id) {
		return
	}
	switch f[0] {
	case PrefixReady, PrefixNotReady:
		d.verdictLine(id, f)
	case PrefixReport:
		d.chunkLine(id, f)
	default:
		// A line of ours whose prefix got mangled.
		if r := d.runs[id]; r != nil {
			r.note(fmt.Sprintf("line %d: unknown marker %q", d.line, f[0]))
		}
	}
}

func (d *Decoder) run(id string) *runState {
	r := d.runs[id]
	if r == nil {
		if len(d.runs) >= maxRuns {
			d.dropOldest(nil)
		}
		d.seq++
		r = &runState{id: id, order: d.seq, chunks: map[int]string{}, bad: map[int]string{}, tried: map[[sha256.Size]byte]decoded{}}
		d.runs[id] = r
	}
	return r
}

// eligible reports whether r may be chosen as the latest run: under a
// key, only a run with an authenticated verdict line.
func (d *Decoder) eligible(r *runState) bool {
	return len(d.opts.Key) == 0 || r.v != nil
}

// dropOldest forgets the oldest run other than keep and the selected
// one, preferring runs that cannot be chosen (not authenticated), so a
// flood of forged run IDs does not push out the genuine run.
func (d *Decoder) dropOldest(keep *runState) bool {
	var old *runState
	for _, r := range d.runs {
		if r.id == d.opts.RunID || r == keep {
			continue
		}
		if old == nil || d.eligible(old) && !d.eligible(r) ||
			d.eligible(old) == d.eligible(r) && r.order < old.order {
			old = r
		}
	}
	if old == nil {
		return false
	}
	delete(d.runs, old.id)
	return true
}

// mem is what the runs hold: chunk text and verified reports.
func (d *Decoder) mem() int {
	n := 0
	for _, r := range d.runs {
		n += r.size
		if r.done != nil {
			n += len(r.done.Report)
		}
	}
	return n
}

// trim drops old runs while the decoder holds more than maxMem.
func (d *Decoder) trim(keep *runState) {
	for d.mem() > maxMem {
		if !d.dropOldest(keep) {
			return
		}
	}
}

func (d *Decoder) verdictLine(id string, f []string) {
	ready := f[0] == PrefixReady
	want := 3
	if !ready {
		want = 4
	}
	var sig string
	if len(f) == want+1 && strings.HasPrefix(f[want], "hmac=") {
		sig, f = f[want][len("hmac="):], f[:want]
	}
	if len(f) != want || !strings.HasPrefix(f[2], "sha256=") || !isHex64(f[2][len("sha256="):]) ||
		(!ready && !strings.HasPrefix(f[3], "failed=")) || (sig != "" && !isHex64(sig)) {
		// Only a known run learns of it: a malformed line alone (someone
		// echoing the prefix) must not become the "latest run".
		if r := d.runs[id]; r != nil {
			r.note(fmt.Sprintf("line %d: malformed %s line ignored", d.line, f[0]))
		}
		return
	}
	r := d.run(id)
	v := &Verdict{RunID: id, Ready: ready, SHA256: f[2][len("sha256="):], Failed: []string{}, HMAC: sig}
	if !ready && f[3] != "failed=" {
		v.Failed = strings.Split(f[3][len("failed="):], ",")
	}
	if len(d.opts.Key) > 0 {
		if err := v.Verify(d.opts.Key); err != nil {
			// Remembered only to explain why no run is taken: a forged
			// line neither ends nor replaces the genuine verdict.
			r.unauth = fmt.Sprintf("line %d: %v", d.line, err)
			return
		}
	}
	if len(r.chunks) > 0 || len(r.bad) > 0 {
		r.verdictAfterChunk = true
	}
	if r.v != nil {
		if r.v.Line() == v.Line() {
			return // the trailer, or a duplicate
		}
		r.note(fmt.Sprintf("line %d: verdict line differs from an earlier one (%q); using the later", d.line, r.v.Line()))
		if r.done != nil {
			return // the verified one stays
		}
	}
	r.v = v
	d.assemble(r)
}

func (d *Decoder) chunkLine(id string, f []string) {
	n, total, ok := 0, 0, len(f) >= 3
	if ok {
		n, total, ok = parseCounter(f[2])
	}
	if !ok {
		if r := d.runs[id]; r != nil {
			r.note(fmt.Sprintf("line %d: report line without a valid <n>/<total> counter", d.line))
		}
		return
	}
	r := d.run(id)
	if r.total != 0 && total != r.total {
		r.setBad(n, fmt.Sprintf("line %d: chunk %d/%d disagrees with the total %d of earlier chunks", d.line, n, total, r.total))
		return
	}
	if len(f) != 4 {
		r.setBad(n, fmt.Sprintf("line %d: chunk %d/%d has %d extra field(s) (console noise inside the line?)", d.line, n, total, len(f)-4))
		return
	}
	data := f[3]
	if why := checkChunk(data, n, total); why != "" {
		r.setBad(n, fmt.Sprintf("line %d: chunk %d/%d mangled: %s", d.line, n, total, why))
		return
	}
	r.total = total
	old, had := r.chunks[n]
	if had {
		if old == data {
			return // a duplicate: nothing to decode
		}
		r.note(fmt.Sprintf("line %d: chunk %d/%d differs from an earlier copy; using the later", d.line, n, total))
		if r.done != nil {
			return
		}
		xorInto(&r.fp, d.chunkHash(n, old))
		r.size -= len(old)
	}
	r.chunks[n] = data
	r.size += len(data)
	xorInto(&r.fp, d.chunkHash(n, data))
	delete(r.bad, n)
	d.trim(r)
	d.assemble(r)
}

// setBad remembers why chunk n was rejected, for at most maxBad chunks.
func (r *runState) setBad(n int, why string) {
	if _, ok := r.bad[n]; ok || len(r.bad) < maxBad {
		r.bad[n] = why
	}
}

// chunkHash is the keyed hash of chunk n's text.
func (d *Decoder) chunkHash(n int, data string) [sha256.Size]byte {
	m := d.fpMAC
	m.Reset()
	var idx [8]byte
	binary.BigEndian.PutUint64(idx[:], uint64(n))
	m.Write(idx[:])
	io.WriteString(m, data)
	var h [sha256.Size]byte
	m.Sum(h[:0])
	return h
}

func xorInto(dst *[sha256.Size]byte, h [sha256.Size]byte) {
	for i := range dst {
		dst[i] ^= h[i]
	}
}

// parseCounter reads "<n>/<total>" with 1 <= n <= total <= MaxChunks.
func parseCounter(s string) (n, total int, ok bool) {
	a, b, found := strings.Cut(s, "/")
	if !found {
		return 0, 0, false
	}
	n, err1 := strconv.Atoi(a)
	total, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || n < 1 || total < 1 || n > total || total > MaxChunks || a[0] == '+' || b[0] == '+' {
		return 0, 0, false
	}
	return n, total, true
}

// checkChunk validates one chunk's shape: every chunk but the last is
// exactly ChunkLen base64 characters, the last is a non-empty multiple of
// 4 with padding only at its end.
func checkChunk(data string, n, total int) string {
	if n < total && len(data) != ChunkLen {
		return fmt.Sprintf("%d characters, want %d", len(data), ChunkLen)
	}
	if n == total && (len(data) == 0 || len(data) > ChunkLen || len(data)%4 != 0) {
		return fmt.Sprintf("last chunk has %d characters, want a multiple of 4 up to %d", len(data), ChunkLen)
	}
	for i := 0; i < len(data); i++ {
		c := data[i]
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/':
		case c == '=' && n == total && i >= len(data)-2:
		default:
			return fmt.Sprintf("invalid base64 character %q at offset %d", c, i)
		}
	}
	return ""
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range []byte(s) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// assemble verifies a run once its verdict and all its chunks are there.
// Each distinct complete chunk set is decompressed once: a set seen
// before is judged from what its decoding gave (a flood of duplicate or
// alternating chunks costs a map lookup per line), and a run is given up
// after maxDecodes different sets. The one exception is a set that
// decoded well and now meets a verdict line it matches: it is decoded
// again to keep its report, and the run is done.
func (d *Decoder) assemble(r *runState) {
	if r.done != nil || r.v == nil || r.total == 0 || len(r.chunks) != r.total {
		return
	}
	res, seen := r.tried[r.fp]
	if seen {
		if why := judge(res, r); why != "" {
			r.fail = why
			return
		}
	}
	if r.decodes >= maxDecodes {
		r.fail = fmt.Sprintf("gave up after decoding %d different copies of the report (console flooded with altered chunks?)", r.decodes)
		return
	}
	r.decodes++
	d.decodes++
	body, res := decode(r)
	if len(r.tried) < 4*maxDecodes {
		r.tried[r.fp] = res
	}
	if why := judge(res, r); why != "" {
		r.fail = why
		return
	}
	v := *r.v
	v.Report = body
	r.done = &v
	r.fail = ""
	d.trim(r)
}

// decode joins and decompresses r's chunks, reading at most MaxReport.
func decode(r *runState) ([]byte, decoded) {
	var sb strings.Builder
	sb.Grow(r.size)
	for i := 1; i <= r.total; i++ {
		sb.WriteString(r.chunks[i])
	}
	gz, err := base64.StdEncoding.DecodeString(sb.String())
	if err != nil {
		return nil, decoded{fail: fmt.Sprintf("corrupted: base64: %v", err)}
	}
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, decoded{fail: fmt.Sprintf("corrupted: %v", err)}
	}
	body, err := io.ReadAll(io.LimitReader(zr, MaxReport+1))
	if err == nil && len(body) > MaxReport {
		err = fmt.Errorf("report larger than %d bytes", MaxReport)
	}
	if err != nil {
		return nil, decoded{fail: fmt.Sprintf("corrupted: %v", err)}
	}
	res := decoded{digest: Digest(body)}
	if err := json.Unmarshal(body, &res.head); err != nil {
		res.headErr = fmt.Sprintf("report is not a JSON object: %v", err)
	}
	return body, res
}

// judge says why a decoded set does not verify against r's verdict line.
func judge(res decoded, r *runState) string {
	switch {
	case res.fail != "":
		return res.fail
	case res.digest != r.v.SHA256:
		return fmt.Sprintf("digest mismatch: the verdict line announces sha256=%s, the %d-chunk report has sha256=%s", r.v.SHA256, r.total, res.digest)
	case res.headErr != "":
		return res.headErr
	}
	return res.head.consistent(r.v)
}

// reportHead is the part of a report its verdict line must agree with.
type reportHead struct {
	RunID *string `json:"run_id"`
	Ready *bool   `json:"ready"`
}

// consistent cross-checks the verified report with its verdict line, so a
// report cannot be paired with another run's verdict.
func consistent(body []byte, v *Verdict) string {
	var head reportHead
	if err := json.Unmarshal(body, &head); err != nil {
		return fmt.Sprintf("report is not a JSON object: %v", err)
	}
	return head.consistent(v)
}

func (head reportHead) consistent(v *Verdict) string {
	if head.RunID != nil && *head.RunID != v.RunID {
		return fmt.Sprintf("report run_id %q does not match the line's run=%s", *head.RunID, v.RunID)
	}
	if head.Ready != nil && *head.Ready != v.Ready {
		return fmt.Sprintf("report says ready=%v but the verdict line says %s", *head.Ready, map[bool]string{true: PrefixReady, false: PrefixNotReady}[v.Ready])
	}
	return ""
}

// selected is the run the options ask for, or nil.
func (d *Decoder) selected() *runState {
	if d.opts.RunID != "" {
		return d.runs[d.opts.RunID]
	}
	var last *runState
	for _, r := range d.runs {
		if d.eligible(r) && (last == nil || r.order > last.order) {
			last = r
		}
	}
	return last
}

// latestUnauth is the latest run refused for want of a valid hmac.
func (d *Decoder) latestUnauth() *runState {
	var last *runState
	for _, r := range d.runs {
		if r.unauth != "" && r.v == nil && (last == nil || r.order > last.order) {
			last = r
		}
	}
	return last
}

// Verdict returns the selected run's verified verdict, or nil while it is
// not (yet) complete. It never returns an error for incomplete input; End
// says why there is no verdict.
func (d *Decoder) Verdict() *Verdict {
	if r := d.selected(); r != nil {
		return r.done
	}
	return nil
}

// Ended reports whether the selected run's trailer line has been seen: the
// agent has finished sending it, so an incomplete report will stay so
// unless another copy follows.
func (d *Decoder) Ended() bool {
	r := d.selected()
	return r != nil && r.verdictAfterChunk
}

// Runs lists the run IDs seen, oldest first.
func (d *Decoder) Runs() []string {
	rs := make([]*runState, 0, len(d.runs))
	for _, r := range d.runs {
		rs = append(rs, r)
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].order < rs[j].order })
	ids := make([]string, len(rs))
	for i, r := range rs {
		ids[i] = r.id
	}
	return ids
}

// End finishes the input (an unterminated last line is processed) and
// returns the selected run's verdict, ErrNoVerdict when none of its lines
// was seen, or a *ReportError saying why its report is rejected.
func (d *Decoder) End() (*Verdict, error) {
	d.Break()
	r := d.selected()
	if r == nil && len(d.opts.Key) > 0 {
		// Only runs without a valid hmac: say so rather than "nothing".
		if u := d.latestUnauth(); u != nil {
			return nil, &ReportError{RunID: u.id, Reason: u.reason()}
		}
	}
	if r == nil {
		if d.opts.RunID != "" {
			return nil, fmt.Errorf("%w for run %s (runs seen: %s)", ErrNoVerdict, d.opts.RunID, orNone(d.Runs()))
		}
		return nil, ErrNoVerdict
	}
	if r.done != nil {
		return r.done, nil
	}
	return nil, &ReportError{RunID: r.id, Reason: r.reason()}
}

// reason explains an unverified run, most useful cause first.
func (r *runState) reason() string {
	var parts []string
	switch {
	case r.v == nil && r.unauth != "":
		parts = append(parts, r.unauth)
	case r.v == nil:
		parts = append(parts, "no verdict line (PREPAGENT-READY/NOTREADY) seen for it")
	case r.total == 0 && len(r.bad) == 0:
		parts = append(parts, "truncated: no report chunk seen after the verdict line")
	}
	if r.total > 0 || len(r.bad) > 0 {
		total := r.total
		var missing []int
		if total == 0 {
			for n := range r.bad {
				total = max(total, n)
			}
		}
		for n := 1; n <= total; n++ {
			if _, ok := r.chunks[n]; !ok {
				missing = append(missing, n)
			}
		}
		if len(missing) > 0 {
			kind := "truncated"
			if len(r.bad) > 0 {
				kind = "corrupted"
			}
			parts = append(parts, fmt.Sprintf("%s: %d of %d chunk(s) missing or unusable (%s)", kind, len(missing), total, ranges(missing)))
		}
	}
	if r.fail != "" {
		parts = append(parts, r.fail)
	}
	var bad []int
	for n := range r.bad {
		bad = append(bad, n)
	}
	sort.Ints(bad)
	for i, n := range bad {
		if i == 4 {
			parts = append(parts, fmt.Sprintf("... %d more mangled chunk(s)", len(bad)-4))
			break
		}
		parts = append(parts, r.bad[n])
	}
	parts = append(parts, r.notes...)
	if len(parts) == 0 {
		parts = append(parts, "incomplete")
	}
	return strings.Join(parts, "; ")
}

// ranges renders sorted ints as "1-3,7".
func ranges(ns []int) string {
	var sb strings.Builder
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if sb.Len() > 0 {
			sb.WriteByte(',')
		}
		if j > i {
			fmt.Fprintf(&sb, "%d-%d", ns[i], ns[j])
		} else {
			fmt.Fprintf(&sb, "%d", ns[i])
		}
		i = j + 1
	}
	return sb.String()
}

func orNone(ids []string) string {
	if len(ids) == 0 {
		return "none"
	}
	return strings.Join(ids, ", ")
}
