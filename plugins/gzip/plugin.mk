LIBS_gzip := -lz
