package fstab

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

const anaconda = `
#
# /etc/fstab
# Created by anaconda on Mon Nov 23 10:12:44 2026
#
/dev/mapper/centos-root /                       xfs     defaults        0 0
UUID=6a1c2f0e-7b7d-4a55-9d4c-0f1e2d3c4b5a /boot                   xfs     defaults        0 0
/dev/mapper/centos-swap swap                    swap    defaults        0 0
`

func TestParseRoundTrip(t *testing.T) {
	for name, in := range map[string]string{
		"anaconda":   anaconda,
		"no-newline": "/dev/vdb1 /data xfs defaults 0 0",
		"crlf":       "UUID=x / ext4 defaults 0 1\r\n",
		"tabs":       "/dev/vdb2\t/\text4\tdefaults\t1 1\n",
		"empty":      "",
		"malformed":  "/dev/vdb1\n# c\nUUID=x / ext4\n",
	} {
		f, _ := Parse([]byte(in))
		if got := string(f.Bytes()); got != in {
			t.Errorf("%s: Bytes() = %q, want %q", name, got, in)
		}
	}
}

func TestParseEntries(t *testing.T) {
	f, err := Parse([]byte(anaconda + "LABEL=my\\040data /mnt/my\\040data ext4\n"))
	if err != nil {
		t.Fatal(err)
	}
	es := f.Entries()
	if len(es) != 4 {
		t.Fatalf("%d entries, want 4", len(es))
	}
	if es[0].Spec != "/dev/mapper/centos-root" || es[0].File != "/" || es[0].VfsType != "xfs" || es[0].Line != 6 {
		t.Errorf("entry 0 = %+v", es[0])
	}
	if !es[2].IsSwap() {
		t.Errorf("entry 2 is not swap: %+v", es[2])
	}
	if es[3].Spec != "LABEL=my data" || es[3].File != "/mnt/my data" || es[3].Options != "defaults" {
		t.Errorf("escaped entry = %+v", es[3])
	}
}

func TestParseErrors(t *testing.T) {
	_, err := Parse([]byte("UUID=a / ext4 defaults 0 1\n/dev/vdb1\n/mnt/a b c d e f g\n"))
	var pe *ParseError
	if !errors.As(err, &pe) || pe.Line != 2 {
		t.Fatalf("Parse error = %v, want a ParseError for line 2", err)
	}
	if !strings.Contains(err.Error(), "line 3: 7 fields") {
		t.Errorf("error %q does not report line 3", err)
	}
}

func TestSetSpec(t *testing.T) {
	cases := []struct{ in, spec, want string }{
		// Space-aligned: the next column keeps its offset when it can.
		{"/dev/vdb2               /        ext4 defaults 0 1\n", "UUID=b2", "UUID=b2                 /        ext4 defaults 0 1\n"},
		{"/dev/vdb2 / ext4 defaults 0 1\n", "UUID=e2e2e2e2-0000-4000-8000-0000000000e2", "UUID=e2e2e2e2-0000-4000-8000-0000000000e2 / ext4 defaults 0 1\n"},
		// Tabs are kept as they are.
		{"/dev/vdb2\t/\text4\n", "UUID=x", "UUID=x\t/\text4\n"},
		{"  /dev/vdb2 /", "LABEL=a b", "  LABEL=a\\040b /"},
	}
	for _, tc := range cases {
		f, _ := Parse([]byte(tc.in))
		if err := f.SetSpec(f.Entries()[0], tc.spec); err != nil {
			t.Fatal(err)
		}
		if got := string(f.Bytes()); got != tc.want {
			t.Errorf("SetSpec(%q, %q) = %q, want %q", tc.in, tc.spec, got, tc.want)
		}
	}
}

func TestCommentOut(t *testing.T) {
	in := "UUID=a / ext4 defaults 0 1\n/dev/vdc1 /data xfs defaults 0 0\nproc /proc proc defaults 0 0"
	f, _ := Parse([]byte(in))
	if err := f.CommentOut(f.Entries()[1], "why\nnot"); err != nil {
		t.Fatal(err)
	}
	want := "UUID=a / ext4 defaults 0 1\n# prepagent: why not\n#/dev/vdc1 /data xfs defaults 0 0\nproc /proc proc defaults 0 0"
	if got := string(f.Bytes()); got != want {
		t.Errorf("CommentOut = %q, want %q", got, want)
	}
	if n := len(f.Entries()); n != 2 {
		t.Errorf("%d entries after CommentOut, want 2", n)
	}
	g, _ := Parse(f.Bytes())
	if len(g.Entries()) != 2 {
		t.Errorf("reparsed: %d entries, want 2", len(g.Entries()))
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{`a\040b`: "a b", `a\134b`: `a\b`, `a\0`: `a\0`, `a\9999`: `a\9999`, `\011`: "\t"} {
		got, err := Unescape(in)
		if err != nil || got != want {
			t.Errorf("Unescape(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := Unescape(`\777`); err == nil {
		t.Errorf("Unescape(\\777) gave no error")
	}
}

// FuzzParse: never panics, always round-trips byte for byte, and edits
// keep every other line.
func FuzzParse(f *testing.F) {
	f.Add([]byte(anaconda))
	f.Add([]byte("/dev/vdb1 /data xfs defaults 0 0"))
	f.Add([]byte("LABEL=a\\040b /x\\134y ext4\n#c\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fs, _ := Parse(data)
		if string(fs.Bytes()) != string(data) {
			t.Fatalf("round trip changed %q to %q", data, fs.Bytes())
		}
		es := fs.Entries()
		if len(es) == 0 {
			return
		}
		if err := fs.SetSpec(es[0], "UUID=00000000-0000-4000-8000-000000000000"); err != nil {
			t.Fatal(err)
		}
		if err := fs.CommentOut(es[len(es)-1], "fuzz"); err != nil {
			t.Fatal(err)
		}
		g, _ := Parse(fs.Bytes())
		if len(g.Entries()) != len(es)-1 {
			t.Fatalf("after CommentOut %d entries, want %d\n%q", len(g.Entries()), len(es)-1, fs.Bytes())
		}
	})
}

// Lines mount(8) and systemd-fstab-generator accept parse as entries;
// junk is an error naming its line, never a quietly skipped line.
func TestParseStrict(t *testing.T) {
	good := []string{
		"/dev/vdb1 /data",
		"UUID=a /\text4\tdefaults\t0\t1",
		"LABEL=my\\040data /mnt/my\\040data ext4 defaults 0 2",
		"/dev/vdb2 none swap sw 0 0",
		"/dev/vdb2 swap swap defaults",
		"sshfs#u@h: /mnt fuse.sshfs noauto 0 0",
		"/dev/sr0 /media/cdrom0 udf,iso9660 user,noauto 0 0",
		"UUID=x / ext4 defaults 0 1\r",
		"  # indented comment",
		"",
		"\t",
	}
	for _, l := range good {
		if _, err := Parse([]byte(l + "\n")); err != nil {
			t.Errorf("Parse(%q) = %v, want no error", l, err)
		}
	}
	bad := map[string]string{
		"one field":       "/dev/vdb1",
		"seven fields":    "/dev/vdb1 /a b ext4 defaults 0 1 x",
		"relative target": "/dev/vdb1 data ext4",
		"bad type":        "/dev/vdb1 /data ext4$ defaults",
		"freq not number": "/dev/vdb1 /data ext4 defaults x 1",
		"passno negative": "/dev/vdb1 /data ext4 defaults 0 -1",
		"NUL byte":        "/dev/vdb1 /da\x00ta ext4",
		"escape byte":     "/dev/vdb1 /data\x1b[2J ext4",
		"invalid UTF-8":   "/dev/vdb1 /data\xff\xfe ext4",
		"binary":          "\x7fELF\x02\x01\x01 /\x03",
	}
	for name, l := range bad {
		_, err := Parse([]byte("# ok\n" + l + "\n"))
		var pe *ParseError
		if !errors.As(err, &pe) || pe.Line != 2 {
			t.Errorf("%s: Parse(%q) = %v, want a ParseError for line 2", name, l, err)
		}
	}
}

// Random bytes never yield a root entry and always report errors.
func TestParseRandomBytes(t *testing.T) {
	rnd := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		data := make([]byte, 64+rnd.IntN(4096))
		for j := range data {
			data[j] = byte(rnd.Uint32())
		}
		f, err := Parse(data)
		if err == nil {
			t.Fatalf("random input %d parsed without error: %q", i, data)
		}
		for _, e := range f.Entries() {
			if e.File == "/" {
				t.Errorf("random input %d has a root entry: %+v", i, e)
			}
		}
		if string(f.Bytes()) != string(data) {
			t.Fatalf("random input %d does not round-trip", i)
		}
	}
}

func TestAppend(t *testing.T) {
	f, _ := Parse([]byte("# c\n/dev/vdb1 /data ext4"))
	f.Append("added", "UUID=r / ext4 defaults 0 1")
	want := "# c\n/dev/vdb1 /data ext4\n# prepagent: added\nUUID=r / ext4 defaults 0 1\n"
	if got := string(f.Bytes()); got != want {
		t.Errorf("Append: %q, want %q", got, want)
	}
	if es := f.Entries(); len(es) != 2 || es[1].File != "/" {
		t.Errorf("appended entry not parsed: %+v", es)
	}
}
