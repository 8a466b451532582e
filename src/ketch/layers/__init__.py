"""ketch.layers"""
