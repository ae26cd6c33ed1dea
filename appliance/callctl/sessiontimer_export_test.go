package callctl

// ParseSessionExpires exposes parseSessionExpires to the external tests.
var ParseSessionExpires = parseSessionExpires
