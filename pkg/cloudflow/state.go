package cloudflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// StateVersion is the state file's format version.
const StateVersion = 1

// State is what a build has done so far. It is saved after every call
// that creates something, before waiting on it, so an interrupted build
// (Ctrl-C, crash, lost network) resumes by polling the job it already
// started instead of starting a second one.
type State struct {
	Version int    `json:"version"`
	Name    string `json:"name"` // the image name: a state file serves one build
	Started string `json:"started"`
	Updated string `json:"updated"`

	ISOJobID   string `json:"iso_job_id,omitempty"`
	ISOImageID string `json:"iso_image_id,omitempty"`
	// ISOOwned is true when this build registered the ISO image (and may
	// delete it with --delete-iso).
	ISOOwned   bool `json:"iso_owned,omitempty"`
	ISODeleted bool `json:"iso_deleted,omitempty"`

	// ServerClientToken is the X-Client-Token of the create-server call,
	// saved before the call: a run that dies before it could save the
	// job ID sends the same token again and ECS answers with the job it
	// already started instead of making a second server.
	ServerClientToken string `json:"server_client_token,omitempty"`
	ServerJobID       string `json:"server_job_id,omitempty"`
	ServerID          string `json:"server_id,omitempty"`
	DataVolumeID      string `json:"data_volume_id,omitempty"`
	// FailedServerJobs are create-server jobs that ended FAIL (quota,
	// sold-out flavor). They are never polled again: the next run checks
	// that no server of theirs survives, then creates a new one.
	FailedServerJobs []FailedJob `json:"failed_server_jobs,omitempty"`

	VerdictRunID string `json:"verdict_run_id,omitempty"`
	VerdictReady bool   `json:"verdict_ready,omitempty"`

	StopJobID  string `json:"stop_job_id,omitempty"`
	ImageJobID string `json:"image_job_id,omitempty"`
	ImageID    string `json:"image_id,omitempty"`

	DeleteJobID   string `json:"delete_job_id,omitempty"`
	ServerDeleted bool   `json:"server_deleted,omitempty"`
	Done          bool   `json:"done,omitempty"`

	path string
}

// FailedJob is a create-server job that ended FAIL.
type FailedJob struct {
	JobID       string   `json:"job_id"`
	ClientToken string   `json:"client_token,omitempty"`
	ErrorCode   string   `json:"error_code,omitempty"`
	FailReason  string   `json:"fail_reason,omitempty"`
	ServerIDs   []string `json:"server_ids,omitempty"` // from the job's entities
	Failed      string   `json:"failed"`               // when prepctl saw it fail
	// Cleared is set once none of ServerIDs exists any more (not found,
	// or deleted by prepctl).
	Cleared bool `json:"cleared,omitempty"`
}

// LoadState reads the state file at path, or returns a fresh state for
// name when the file does not exist. A file written for another image
// name is refused: resuming it would mix two builds.
func LoadState(path, name string) (*State, error) {
	st := &State{Version: StateVersion, Name: name, path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		st.Started = time.Now().UTC().Format(time.RFC3339)
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", path, err)
	}
	if k := stateKind(b); k != "" {
		return nil, fmt.Errorf("%w: state %s belongs to a prepctl %s, not a build (use another --state file)", ErrInput, path, k)
	}
	st.path = path
	if st.Version != StateVersion {
		return nil, fmt.Errorf("state %s: version %d, this prepctl reads %d", path, st.Version, StateVersion)
	}
	if st.Name != name {
		return nil, fmt.Errorf("%w: state %s belongs to the build of image %q, not %q (use another --state file)", ErrInput, path, st.Name, name)
	}
	return st, nil
}

// Save writes the state atomically (temporary file, fsync, rename) so a
// crash leaves either the old or the new state, never half of one. A
// state without a path (single-step subcommands) is not saved.
func (st *State) Save() error {
	if st.path == "" {
		return nil
	}
	st.Updated = time.Now().UTC().Format(time.RFC3339)
	return saveJSON(st.path, st)
}

// saveJSON writes v as indented JSON to path through a temporary file in
// the same directory, synced, then renamed over path.
func saveJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	f, err := os.CreateTemp(filepath.Dir(path), ".prepctl-state-*")
	if err != nil {
		return fmt.Errorf("save state %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("save state %s: %w", path, err)
	}
	return nil
}

// Path is where the state is saved.
func (st *State) Path() string { return st.path }

// stateKind is the "kind" of a state file: "" for a build's (they have
// none), "import" for `prepctl import`'s.
func stateKind(b []byte) string {
	var k struct {
		Kind string `json:"kind"`
	}
	_ = json.Unmarshal(b, &k)
	return k.Kind
}
