package scan

import "mailctl/lib/scan/weights"

// DefaultWeights are the score contributions of the checks and rules, by
// name (lib/scan/weights, where lib/config can see them too); the config's
// [scan.weights] overrides them.
var DefaultWeights = weights.Default

// maxURLs is the URL count above which many_urls applies.
const maxURLs = 10
