"""The contract: pydantic models of the TrainingJob and Dataset resources, the REST shapes, the translation
between them, validation and error codes. Every other part of the platform reads and writes through these.
"""
