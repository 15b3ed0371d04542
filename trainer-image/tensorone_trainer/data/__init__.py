"""Datasets as the loops need them: tokenized text for causal LMs, a YOLO layout for ultralytics."""
