package sysfstest

import (
	"io/fs"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	m, err := Parse(strings.NewReader("d class/block\nl class/block/vda\t../../devices/vda\nf devices/vda/dev\t254:0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if tgt, err := fs.ReadLink(m, "class/block/vda"); err != nil || tgt != "../../devices/vda" {
		t.Errorf("ReadLink = %q, %v", tgt, err)
	}
	if b, err := fs.ReadFile(m, "devices/vda/dev"); err != nil || string(b) != "254:0\n" {
		t.Errorf("ReadFile = %q, %v", b, err)
	}
	for _, bad := range []string{"x class\n", "f /abs\tx\n", "f ../up\tx\n", "nospace\n"} {
		if _, err := Parse(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
			t.Errorf("Parse(%q) = %v, want a line-1 error", bad, err)
		}
	}
}
