// PNG and JPEG codecs.
