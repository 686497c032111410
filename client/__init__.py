"""How both doors (the staff's starter and the partner portal) talk to the processes: one
connection, one way to start a process and to send a step, one reading of every failure.

- `client.failures`: what went wrong, as an exit code and words (`Failure`), and the same
  failure as an HTTP status for the portal.
- `client.connection`: the Temporal connection, with the key ring and the address settings.
- `client.processes`: start a process, send a step (an update with a stable id), wait for its
  answer and say why a process is silent.

Neither door imports the other: what they share is here."""
