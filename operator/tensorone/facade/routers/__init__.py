"""One router per resource: jobs, datasets, and the service endpoints (health, metrics)."""
