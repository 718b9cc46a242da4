# expect: region: missing required key
# remove: region
