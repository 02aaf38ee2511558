"""The core: the one module that imports TensorFlow, JAX or torch (backend), batching, image helpers, input checks."""
