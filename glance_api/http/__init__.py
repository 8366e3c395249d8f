"""HTTP plumbing with no domain knowledge: error responses, bodies, keep-alive, request ids, health."""
