"""Feature visualization, as lucid's optvis: parameterizations, objectives, transforms, the render loop."""
