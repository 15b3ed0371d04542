"""The REST facade of shared/API.md: FastAPI over the TrainingJob and Dataset resources (no other store)."""
