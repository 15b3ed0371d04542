"""The data plane: what runs inside each worker pod (LoRA, YOLO and custom training)."""

__version__ = "0.1.0"
