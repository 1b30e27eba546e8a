"""Inference: encoders, language detectors, masked LMs and their evaluators. Never imports gradio."""
