"""What users get: the one scorer behind every list and SQL macro, and the explanations."""
