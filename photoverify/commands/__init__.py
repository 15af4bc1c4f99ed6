"""The commands of the command line, one module a concern: each command parses its arguments,
calls one library function and renders the result. A module imports the library inside its
commands, so that `--help` and a light run (a fixity check) load only what they use."""
