"""Film repair from neighbouring frames: dust and dirt, line scratches, flicker and tone."""
