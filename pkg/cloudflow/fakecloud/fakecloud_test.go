package fakecloud

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestRejects: the fake refuses what the real API refuses, so a flow that
// forgets to sign or to send the project cannot pass against it.
func TestRejects(t *testing.T) {
	f := New("proj")
	defer f.Close()
	for _, tc := range []struct {
		name, url, auth, project string
		want                     int
	}{
		{"unsigned", f.IMS.URL + "/v2/cloudimages/action", "", "proj", 401},
		{"token instead of signature", f.IMS.URL + "/v2/cloudimages/action", "Bearer x", "proj", 401},
		{"no project header", f.IMS.URL + "/v2/cloudimages/action", "SDK-HMAC-SHA256 Access=a", "", 403},
		{"wrong project in path", f.ECS.URL + "/v1/other/cloudservers", "SDK-HMAC-SHA256 Access=a", "proj", 404},
		{"literal {project_id}", f.ECS.URL + "/v1/%7Bproject_id%7D/cloudservers", "SDK-HMAC-SHA256 Access=a", "proj", 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(`{"name":"x","image_url":"b:x.iso"}`))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
				req.Header.Set("X-Sdk-Date", "20261123T190000Z")
			}
			if tc.project != "" {
				req.Header.Set("X-Project-Id", tc.project)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want || resp.Header.Get("X-Request-Id") == "" {
				t.Errorf("status %d (request ID %q), want %d: %s", resp.StatusCode, resp.Header.Get("X-Request-Id"), tc.want, b)
			}
		})
	}
	if n := len(f.Requests(CreateImage)); n != 3 {
		t.Errorf("recorded %d create-image requests, want 3", n)
	}
}

func TestConsoleLength(t *testing.T) {
	f := New("proj")
	defer f.Close()
	f.Console = func(ServerInfo) string { return "a\nb\nc\n" }
	f.servers["s"] = &server{ServerInfo: ServerInfo{ID: "s"}}
	for _, tc := range []struct{ body, want string }{
		{`{"os-getConsoleOutput":{"length":2}}`, `"b\nc\n"`},
		{`{"os-getConsoleOutput":{"length":-1}}`, `"a\nb\nc\n"`},
		{`{"os-getConsoleOutput":{}}`, "length is mandatory"},
	} {
		req, _ := http.NewRequest(http.MethodPost, f.ECS.URL+"/v2.1/proj/servers/s/action", strings.NewReader(tc.body))
		req.Header.Set("Authorization", "SDK-HMAC-SHA256 Access=a")
		req.Header.Set("X-Sdk-Date", "20261123T190000Z")
		req.Header.Set("X-Project-Id", "proj")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), tc.want) {
			t.Errorf("console %s = %s, want %s", tc.body, b, tc.want)
		}
	}
}
