//! End-to-end scenarios: backend, agents and CLI against a real nats-server.
