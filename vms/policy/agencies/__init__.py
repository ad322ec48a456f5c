"""Agency preset files (TOML), read by vms.policy.presets; a package so they ship."""
