"""What a model represents: activations, dataset examples and receptive fields, latent spaces, similarity."""
