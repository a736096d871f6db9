"""EnviroAtlas fixture generator."""
