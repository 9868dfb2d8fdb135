"""Development launcher: the local Serving and the gateway as child processes."""
