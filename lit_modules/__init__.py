from lit_modules.vlm import VLMModule

__all__ = ["VLMModule"]
