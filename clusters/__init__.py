"""One subpackage per system: its deployment and, for bundled systems, the server that
runs inside the containers (in a `server/` folder, standard library only)."""
