"""Evaluation of explanations: localization, faithfulness, sanity checks."""
