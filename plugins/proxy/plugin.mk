LIBS_proxy := -lcurl
