package kmod

import (
	"bytes"
	"testing"
)

// FuzzParse: no input panics the modules.dep and modules.builtin readers,
// every name they return is folded, and Closure ends.
func FuzzParse(f *testing.F) {
	f.Add([]byte("kernel/a.ko: kernel/b.ko.xz\nkernel/b.ko.xz: kernel/c-d.ko\nbad\n"))
	f.Add([]byte("a.ko: b.ko\nb.ko: a.ko\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		d, _ := ParseDep(bytes.NewReader(data))
		for n := range d.Deps {
			if Fold(n) != n {
				t.Fatalf("name %q not normalised", n)
			}
			for _, x := range d.Closure(n) {
				if x == n {
					t.Fatalf("Closure(%q) contains itself", n)
				}
			}
		}
		names, _ := ParseBuiltin(bytes.NewReader(data))
		for _, n := range names {
			if Fold(n) != n {
				t.Fatalf("builtin name %q not folded", n)
			}
		}
	})
}
