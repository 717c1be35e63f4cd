"""Pure order domain: models, events, the Order aggregate and its rules. No I/O."""
