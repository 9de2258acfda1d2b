package cloudinit

import "testing"

// FuzzParseConfig feeds arbitrary bytes to the configuration parser and
// the merge: no panic, and a successful parse is always a mapping.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("datasource_list: [ConfigDrive, OpenStack, None]\n"))
	f.Add([]byte("users:\n - default\n - name: root\n   lock_passwd: false\n"))
	f.Add([]byte("a: &x {b: 1}\nc: *x\n<<: *x\n"))
	f.Add([]byte(DropInContent))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseFile("/f.cfg", data)
		if err != nil {
			return
		}
		if v.Children == nil {
			t.Fatalf("ParseFile(%q) gave a non-mapping", data)
		}
		w, _ := ParseFile("/g.cfg", []byte("a: {b: 1}\ndatasource_list: [None]\n"))
		m := merge(v, w)
		_ = (&Config{root: m}).Get("datasource_list").List()
		_ = passwordPolicy(&Config{root: m})
	})
}
