package chroot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

type fakeMounter struct {
	mounted []string
	log     []string
	failOn  string
}

func (f *fakeMounter) Bind(src, dst string) error {
	if dst == f.failOn {
		return errors.New("bind refused")
	}
	f.mounted = append(f.mounted, dst)
	f.log = append(f.log, "bind "+src+" "+dst)
	return nil
}

func (f *fakeMounter) Unmount(dst string) error {
	i := slices.Index(f.mounted, dst)
	if i < 0 {
		return errors.New("not mounted: " + dst)
	}
	f.mounted = slices.Delete(f.mounted, i, i+1)
	f.log = append(f.log, "umount "+dst)
	return nil
}

func tree(t *testing.T) string {
	d := t.TempDir()
	for _, b := range Binds {
		if err := os.MkdirAll(filepath.Join(d, b), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func TestWithUnmountsOnEveryPath(t *testing.T) {
	d := tree(t)
	cases := []struct {
		name    string
		fn      func() error
		wantErr bool
		panics  bool
	}{
		{"ok", func() error { return nil }, false, false},
		{"error", func() error { return errors.New("tool failed") }, true, false},
		{"panic", func() error { panic("boom") }, false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := &fakeMounter{}
			var inside []string
			func() {
				defer func() {
					if r := recover(); (r != nil) != c.panics {
						t.Errorf("panic = %v, want panic %v", r, c.panics)
					}
				}()
				err := With(d, m, func() error {
					inside = append([]string(nil), m.mounted...)
					return c.fn()
				})
				if (err != nil) != c.wantErr {
					t.Errorf("With() error = %v, want error %v", err, c.wantErr)
				}
			}()
			if len(inside) != len(Binds) {
				t.Errorf("mounted inside fn = %v, want %d binds", inside, len(Binds))
			}
			if len(m.mounted) != 0 {
				t.Errorf("still mounted after With: %v", m.mounted)
			}
			// Reverse order: /dev first.
			if got := m.log[len(Binds)]; got != "umount "+filepath.Join(d, "/dev") {
				t.Errorf("first unmount = %q, want /dev", got)
			}
		})
	}
}

func TestWithRefusesSymlinkAndCleansUpPartialMounts(t *testing.T) {
	d := tree(t)
	if err := os.Remove(filepath.Join(d, "dev")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/dev", filepath.Join(d, "dev")); err != nil {
		t.Fatal(err)
	}
	m := &fakeMounter{}
	called := false
	err := With(d, m, func() error { called = true; return nil })
	if err == nil || called {
		t.Fatalf("With() on a symlinked /dev: err=%v called=%v, want error and no call", err, called)
	}
	if len(m.mounted) != 0 {
		t.Errorf("partial mounts left: %v", m.mounted)
	}
}

func TestWithBindFailure(t *testing.T) {
	d := tree(t)
	m := &fakeMounter{failOn: filepath.Join(d, "/sys")}
	if err := With(d, m, func() error { t.Error("fn called"); return nil }); err == nil {
		t.Fatal("With() = nil, want the bind error")
	}
	if len(m.mounted) != 0 {
		t.Errorf("mounts left after a failed bind: %v", m.mounted)
	}
}

// TestSysMountsAndUnmounts uses the real mount(2); it needs root.
func TestSysMountsAndUnmounts(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("bind mounts need root")
	}
	d := tree(t)
	var during bool
	err := With(d, Sys{}, func() error {
		_, err := os.Stat(filepath.Join(d, "proc/self/status"))
		during = err == nil
		return errors.New("tool failed")
	})
	if err == nil || err.Error() != "tool failed" {
		t.Errorf("With() = %v, want the tool's error", err)
	}
	if !during {
		t.Error("/proc was not mounted inside the tree during fn")
	}
	for _, b := range Binds {
		ents, err := os.ReadDir(filepath.Join(d, b))
		if err != nil || len(ents) != 0 {
			t.Errorf("%s after With: %d entries, %v; want an empty, unmounted directory", b, len(ents), err)
		}
	}
}
