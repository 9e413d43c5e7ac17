package warmup

import (
	_ "cloud.google.com/go/container/apiv1"
	_ "cloud.google.com/go/container/apiv1/containerpb"
	_ "cloud.google.com/go/gkebackup/apiv1"
	_ "cloud.google.com/go/longrunning/autogen/longrunningpb"
	_ "cloud.google.com/go/pubsub/v2"
	_ "cloud.google.com/go/pubsub/v2/pstest"
	_ "cloud.google.com/go/scheduler/apiv1"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/funcframework"
	_ "github.com/GoogleCloudPlatform/functions-framework-go/functions"
	_ "github.com/cloudevents/sdk-go/v2"
	_ "github.com/google/go-cmp/cmp"
	_ "github.com/robfig/cron/v3"
	_ "golang.org/x/time/rate"
	_ "google.golang.org/grpc"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/yaml"
)
