package cloudflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/prepagent/prepagent/pkg/obsupload"
)

// importKind marks an import's state file, so build and import never
// read each other's.
const importKind = "import"

// ImportState is what an import has done so far: the upload's checkpoint
// (saved after every part), then the image job (saved before waiting on
// it). A rerun resumes the upload with the parts OBS lacks, or polls the
// job it already started instead of creating a second image.
type ImportState struct {
	Version int    `json:"version"`
	Kind    string `json:"kind"`
	Name    string `json:"name"` // the image name: a state file serves one import
	File    string `json:"file"` // absolute path of the disk image file
	Started string `json:"started"`
	Updated string `json:"updated"`

	Upload obsupload.Checkpoint `json:"upload"`

	// What the image job was sent, recorded with its ID.
	ImageURL   string `json:"image_url,omitempty"`
	OSVersion  string `json:"os_version,omitempty"`
	MinDisk    int    `json:"min_disk,omitempty"`
	Firmware   string `json:"firmware,omitempty"`
	ImageJobID string `json:"image_job_id,omitempty"`
	ImageID    string `json:"image_id,omitempty"`
	// FailedImageJobs are image jobs that ended FAIL: never polled
	// again; the next run creates a new image from the same upload.
	FailedImageJobs []FailedJob `json:"failed_image_jobs,omitempty"`
	Done            bool        `json:"done,omitempty"`

	path string
}

// LoadImportState reads the import state at path, or returns a fresh one
// for image name and file when there is none. A state of another image,
// another file, or of a build is refused.
func LoadImportState(path, name, file string) (*ImportState, error) {
	st := &ImportState{Version: StateVersion, Kind: importKind, Name: name, File: file, path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		st.Started = time.Now().UTC().Format(time.RFC3339)
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	// What the file says, not the fresh state's defaults.
	st = &ImportState{path: path}
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", path, err)
	}
	switch {
	case st.Kind != importKind:
		return nil, fmt.Errorf("%w: state %s belongs to a prepctl build, not an import (use another --state file)", ErrInput, path)
	case st.Version != StateVersion:
		return nil, fmt.Errorf("state %s: version %d, this prepctl reads %d", path, st.Version, StateVersion)
	case st.Name != name:
		return nil, fmt.Errorf("%w: state %s belongs to the import of image %q, not %q (use another --state file)", ErrInput, path, st.Name, name)
	case st.File != file:
		return nil, fmt.Errorf("%w: state %s belongs to the import of %s, not %s (use another --state file)", ErrInput, path, st.File, file)
	}
	return st, nil
}

// Save writes the state atomically; a state without a path is not saved.
func (st *ImportState) Save() error {
	if st.path == "" {
		return nil
	}
	st.Updated = time.Now().UTC().Format(time.RFC3339)
	return saveJSON(st.path, st)
}

// Path is where the state is saved.
func (st *ImportState) Path() string { return st.path }
