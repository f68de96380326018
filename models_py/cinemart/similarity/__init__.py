"""Similar movies for the whole catalogue: content vectors, the collaborative/content blend, the cold-start check.

  content     per-movie content vectors (genres, user tags, release year), NumPy only
  blend       query/candidate vectors whose one dot product blends taste-model cosine and content
  cold_start  how well each source rebuilds a movie's list from k ratings (similar_movies_cold_start)

Pure NumPy over per-movie arrays (model-sized), shared by both engines.
"""
