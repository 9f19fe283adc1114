"""The wardrobe and generation surface (wardrobe-generation spec): clothing items, generations,
results, avatars, cameras and the model catalog, on the shared job system and engines."""
