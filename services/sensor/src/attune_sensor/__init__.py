"""The sensor service: trigger messages in, events out; timers; dead letters for bad input."""
