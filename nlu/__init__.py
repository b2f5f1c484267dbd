"""What the dialogue engine is trained on (the Rasa project here) and language detection."""
