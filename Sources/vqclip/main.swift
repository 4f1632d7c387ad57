print("vqclip")
