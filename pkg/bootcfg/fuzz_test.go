package bootcfg

import (
	"strings"
	"testing"
)

// FuzzParsers feeds the same bytes to every parser and edit of the
// package: none may panic, entries point at real lines, and each edit
// leaves what the parsers read consistent with what it added.
func FuzzParsers(f *testing.F) {
	f.Add([]byte("menuentry 'x' {\n\tlinux /vmlinuz-6.1.0-9-amd64 root=/dev/vda1 ro\n\tinitrd /amd-ucode.img /initrd.img-6.1.0-9-amd64\n}\n"))
	f.Add([]byte("title x\nversion 5.14.0-362.el9.x86_64\nlinux /vmlinuz-5.14.0-362.el9.x86_64\ninitrd /initramfs-5.14.0-362.el9.x86_64.img $tuned_initrd\noptions $kernelopts\n"))
	f.Add([]byte("default=0\ntitle CentOS\n\troot (hd0,0)\n\tkernel /vmlinuz-2.6.32 ro root=/dev/sda2\n\tinitrd /initramfs-2.6.32.img\n"))
	f.Add([]byte("# GRUB Environment Block\nkernelopts=root=/dev/vda1 ro\n" + strings.Repeat("#", 990)))
	f.Add([]byte("GRUB_CMDLINE_LINUX=\"quiet\"\nexport GRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX x\"\nGRUB_DISTRIBUTOR=`lsb_release -i -s`\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := len(lines(data))
		for _, es := range [][]Entry{ParseGrubCfg(data), ParseMenuLst(data), {ParseBLS(data)}} {
			for _, e := range es {
				if e.Kind != BLS && (e.Line < 1 || e.Line > n || e.Kernel == "" || strings.ContainsAny(e.Kernel, " \t")) {
					t.Fatalf("entry %+v: line or kernel out of the %d-line input", e, n)
				}
				if e.Kind != BLS && e.Version != "" && strings.Contains(e.Kernel, "$") {
					t.Fatalf("entry %+v: a version from a path with variables", e)
				}
				for _, p := range e.Initrds {
					if p == "" || strings.Contains(p, "$") {
						t.Fatalf("entry %+v: initrd %q", e, p)
					}
				}
			}
		}
		for k := range ParseGrubenv(data) {
			if k == "" || strings.HasPrefix(k, "#") {
				t.Fatalf("grubenv key %q", k)
			}
		}
		d := ParseDefaults(data)
		for i, a := range d.Assigns {
			if a.Line < 1 || a.Line > n || i > 0 && a.Line <= d.Assigns[i-1].Line {
				t.Fatalf("assignment %+v out of order or range", a)
			}
		}
		const arg = "net.ifnames=0"
		out := AddCmdlineLinux(data, arg, "fuzz")
		if v := ParseDefaults(out).Vars["GRUB_CMDLINE_LINUX"]; !strings.Contains(v, arg) {
			t.Fatalf("after AddCmdlineLinux GRUB_CMDLINE_LINUX = %q\n%q", v, out)
		}
		if n, _ := simpleLinux(strings.SplitAfter(string(data), "\n")); n == 1 && InPlace(data) && len(lines(out)) != len(lines(data)) {
			t.Fatalf("an in-place edit added lines:\n%q", out)
		}
		if b, ok := AddKernelopts(data, arg); ok {
			if len(data) == 1024 && len(b) != 1024 {
				t.Fatalf("grubenv block of 1024 bytes became %d", len(b))
			}
			if !strings.Contains(ParseGrubenv(b)["kernelopts"], arg) {
				t.Fatalf("kernelopts without %s after AddKernelopts:\n%q", arg, b)
			}
		}
		if b, ok := AddBLSOption(data, arg); ok && !strings.Contains(ParseBLS(b).Args, arg) {
			t.Fatalf("options without %s after AddBLSOption:\n%q", arg, b)
		}
		_ = ReplaceArg(data, "root=/dev/vda1", "root=UUID=$1")
		if b, ok := ReplaceKernelopts(data, "root=/dev/vda1", "root=UUID=$1"); ok && len(data) == 1024 && len(b) != 1024 {
			t.Fatalf("grubenv block of 1024 bytes became %d", len(b))
		}
		for n := range 3 {
			if b, ok := ReplaceLineArg(data, n, "root=/dev/vda1", "root=UUID=$1"); !ok && string(b) != string(data) {
				t.Fatalf("ReplaceLineArg changed line %d without saying so", n)
			}
		}
		_ = AppendArg(data, arg)
	})
}
