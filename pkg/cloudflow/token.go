package cloudflow

import (
	"crypto/rand"
	"fmt"
)

// NewClientToken returns a random (version 4) UUID, the form ECS wants
// in X-Client-Token. One token stands for one logical create: it is
// reused on every retry of that create and across resumed runs.
func NewClientToken() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("client token: %w", err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16]), nil
}

// Validate checks an ISO registration's inputs without calling the cloud.
func (s ISOSpec) Validate() error { return s.validate() }

// Validate checks a server's inputs without calling the cloud (the
// flavor rules need the API: StartServer checks them).
func (s ServerSpec) Validate() error { return s.validate() }

// Validate checks every input of a build without calling the cloud, so
// a missing flag is reported before credentials are looked for.
func (b BuildSpec) Validate() error {
	if b.Image.Name == "" {
		return fmt.Errorf("%w: the image name is empty", ErrInput)
	}
	if b.ISOImageID == "" {
		if err := b.ISO.validate(); err != nil {
			return err
		}
	}
	s := b.Server
	if s.ImageID == "" {
		// Filled from the ISO step; only the other fields are the user's.
		s.ImageID = "from-the-iso-step"
	}
	return s.validate()
}
