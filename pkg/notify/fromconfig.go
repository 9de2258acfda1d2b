package notify

import (
	"log/slog"
	"time"

	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// FromConfig builds the channels of a run, in delivery order: local files
// first (cheap, and they survive whatever comes next), then the console
// devices and the virtio port (the channel that always works), journald,
// the HTTP callback (may retry for minutes), and sd_notify last (READY=1
// lets systemd start getty on the console we just wrote to).
//
// When the settings are not the running system's own (c.Live false: run
// --root), the console devices, the virtio port, journald and sd_notify
// belong to the machine running prepagent, not to the prepared OS: they
// are used only when configured explicitly (not from their defaults), and
// config.Load has already kept the prepared OS's file from configuring
// them (they are config.Host keys).
func FromConfig(c *config.Config, root *rootfs.Root, log *slog.Logger) []Channel {
	explicit := func(key string) bool { return c.Live || c.Origin[key] != "default" }
	chans := []Channel{Files{Root: root}}
	if explicit("console") && len(c.Consoles) > 0 {
		chans = append(chans, Console{Paths: c.Consoles})
	}
	if explicit("virtio_port") && c.VirtioPort != "" {
		chans = append(chans, Virtio{Name: c.VirtioPort})
	}
	if explicit("journald") && c.Journald {
		chans = append(chans, Journald{})
	}
	if c.CallbackURL != "" {
		chans = append(chans, Callback{
			URL: c.CallbackURL, Token: c.CallbackToken, HMACKey: c.CallbackHMACKey, Deadline: c.CallbackDeadline,
			Log: func(attempt int, err error, wait time.Duration) {
				log.Warn("callback attempt failed", "attempt", attempt, "err", err, "retry_in", wait)
			},
		})
	}
	if explicit("sd_notify") && c.SDNotify {
		chans = append(chans, SDNotify{})
	}
	return chans
}
