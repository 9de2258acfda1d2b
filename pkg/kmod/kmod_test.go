package kmod

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/drivers/block/xen-blkfront.ko.xz":    "xen_blkfront",
		"kernel/drivers/net/xen-netfront.ko.zst":     "xen_netfront",
		"/lib/modules/6.1/kernel/a/virtio-pci.ko.gz": "virtio_pci",
		"y.ko": "y",
	} {
		if got, ok := Name(in); !ok || got != want {
			t.Errorf("Name(%q) = %q, %v, want %q", in, got, ok, want)
		}
	}
	for _, in := range []string{"modules.dep", ".ko", "x.ko.bz2", "x.ko.sig"} {
		if got, ok := Name(in); ok {
			t.Errorf("Name(%q) = %q, want not a module file", in, got)
		}
	}
}

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"virtio_blk": "virtio_blk", "xen-blkfront": "xen_blkfront", " xen-netfront ": "xen_netfront",
		"kernel/drivers/net/xen-netfront.ko.zst": "xen_netfront", "x.ko.gz": "x",
	} {
		if got := Normalize(in); got != want {
			t.Errorf("Normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseDep(t *testing.T) {
	d, err := ParseDep(strings.NewReader("kernel/a.ko: kernel/b.ko.xz\nkernel/b.ko.xz: kernel/c-d.ko\n# comment\n\nkernel/c-d.ko:\nbroken line\nnot-a-module: x.ko\nkernel/e.ko: kernel/a.ko\n"))
	var se *SyntaxError
	if !errors.As(err, &se) || se.Line != 6 || !strings.Contains(se.Msg, "no ':'") {
		t.Errorf("ParseDep error = %v, want the first bad line (6)", err)
	}
	if got := d.Closure("a"); !slices.Equal(got, []string{"b", "c_d"}) {
		t.Errorf("Closure(a) = %q", got)
	}
	if got := d.Closure("e"); !slices.Equal(got, []string{"a", "b", "c_d"}) {
		t.Errorf("Closure(e) = %q (lines after a bad one are read)", got)
	}
	if d.Path["b"] != "kernel/b.ko.xz" {
		t.Errorf("Path[b] = %q", d.Path["b"])
	}
	if _, ok := d.Path["not_a_module"]; ok {
		t.Error("a line naming no module file was taken")
	}
	if _, err := ParseDep(strings.NewReader("kernel/a.ko: kernel/b.ko\n")); err != nil {
		t.Errorf("ParseDep(good) = %v", err)
	}
	// A cycle (hand-edited file) ends.
	d, _ = ParseDep(strings.NewReader("a.ko: b.ko\nb.ko: a.ko\n"))
	if got := d.Closure("a"); !slices.Equal(got, []string{"b"}) {
		t.Errorf("Closure with a cycle = %q", got)
	}
}

func TestParseBuiltin(t *testing.T) {
	b, err := ParseBuiltin(strings.NewReader("kernel/drivers/block/virtio_blk.ko\n\n# c\nkernel/drivers/xen/xen-blkfront.ko\nvirtio-net\n"))
	if err != nil || !slices.Equal(b, []string{"virtio_blk", "xen_blkfront", "virtio_net"}) {
		t.Errorf("ParseBuiltin = %q, %v", b, err)
	}
}
