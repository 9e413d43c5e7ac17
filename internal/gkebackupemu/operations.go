package gkebackupemu

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"cloud.google.com/go/gkebackup/apiv1/gkebackuppb"
	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// startOperation records a long-running operation on target and returns a copy of it. The
// operation is done after durations.operation; result is called then for its response (the
// resource as it is at that moment, or Empty for a delete). Callers hold s.mu.
func (s *Server) startOperation(location, target, verb string, result func() proto.Message) *longrunningpb.Operation {
	now := s.clk.now()
	name := fmt.Sprintf("projects/%s/locations/%s/operations/operation-%d", s.project, location, s.nextSeq())
	meta := &gkebackuppb.OperationMetadata{
		CreateTime: timestamppb.New(now),
		Target:     target,
		Verb:       verb,
		ApiVersion: "v1",
	}
	op := &longrunningpb.Operation{Name: name, Metadata: mustAny(meta)}
	s.ops[name] = op
	finish := func(at time.Time) {
		if op.Done {
			return // cancelled
		}
		meta.EndTime = timestamppb.New(at)
		op.Metadata = mustAny(meta)
		op.Done = true
		op.Result = &longrunningpb.Operation_Response{Response: mustAny(result())}
	}
	if s.durations.Operation.Duration <= 0 {
		finish(now)
		return proto.CloneOf(op)
	}
	s.sched.at(now.Add(s.durations.Operation.Duration), func(at time.Time) {
		s.mu.Lock()
		defer s.mu.Unlock()
		finish(at)
	})
	return proto.CloneOf(op)
}

// mustAny packs m; packing a generated message cannot fail.
func mustAny(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		panic(fmt.Sprintf("gkebackupemu: pack %T: %v", m, err))
	}
	return a
}

func emptyResult() proto.Message { return &emptypb.Empty{} }

// operationsService implements google.longrunning.Operations over the emulator's operations.
type operationsService struct {
	longrunningpb.UnimplementedOperationsServer
	s *Server
}

// lookup checks an operation's name and returns the operation. Callers hold o.s.mu.
func (o *operationsService) lookup(name string) (*longrunningpb.Operation, error) {
	if _, err := o.s.parseResource("operation name", name, "projects", "locations", "operations"); err != nil {
		return nil, err
	}
	op, ok := o.s.ops[name]
	if !ok {
		return nil, notFound("operation %s not found", name)
	}
	return op, nil
}

// GetOperation returns the latest state of an operation.
func (o *operationsService) GetOperation(_ context.Context, req *longrunningpb.GetOperationRequest) (*longrunningpb.Operation, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := o.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	return proto.CloneOf(op), nil
}

// ListOperations lists the operations of a location ("-" for all), by name.
func (o *operationsService) ListOperations(_ context.Context, req *longrunningpb.ListOperationsRequest) (*longrunningpb.ListOperationsResponse, error) {
	s := o.s
	ids, err := s.parseResource("name", req.GetName(), "projects", "locations")
	if err != nil {
		return nil, err
	}
	if req.GetFilter() != "" {
		return nil, invalid("filter %q: the emulator lists operations without filters", req.GetFilter())
	}
	s.mu.Lock()
	var ops []*longrunningpb.Operation
	for name, op := range s.ops {
		if ids[1] == "-" || strings.HasPrefix(name, req.GetName()+"/operations/") {
			ops = append(ops, proto.CloneOf(op))
		}
	}
	s.mu.Unlock()
	slices.SortFunc(ops, func(a, b *longrunningpb.Operation) int { return strings.Compare(a.GetName(), b.GetName()) })
	page, next, err := paginate(ops, pageRequest{
		parent: req.GetName(), pageSize: req.GetPageSize(), pageToken: req.GetPageToken(),
	}, nil)
	if err != nil {
		return nil, err
	}
	return &longrunningpb.ListOperationsResponse{Operations: page, NextPageToken: next}, nil
}

// DeleteOperation forgets an operation; the resource it worked on is not affected.
func (o *operationsService) DeleteOperation(_ context.Context, req *longrunningpb.DeleteOperationRequest) (*emptypb.Empty, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, err := o.lookup(req.GetName()); err != nil {
		return nil, err
	}
	delete(s.ops, req.GetName())
	return &emptypb.Empty{}, nil
}

// CancelOperation ends a pending operation with CANCELLED; a done operation is left as it is.
// Note that, unlike the real service, the resource the operation created stays.
func (o *operationsService) CancelOperation(_ context.Context, req *longrunningpb.CancelOperationRequest) (*emptypb.Empty, error) {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	op, err := o.lookup(req.GetName())
	if err != nil {
		return nil, err
	}
	if op.Done {
		return &emptypb.Empty{}, nil
	}
	meta := &gkebackuppb.OperationMetadata{}
	if err := op.GetMetadata().UnmarshalTo(meta); err == nil {
		meta.RequestedCancellation = true
		meta.EndTime = timestamppb.New(s.clk.now())
		op.Metadata = mustAny(meta)
	}
	op.Done = true
	op.Result = &longrunningpb.Operation_Error{Error: &rpcstatus.Status{Code: int32(codes.Canceled), Message: "operation cancelled"}}
	return &emptypb.Empty{}, nil
}

// WaitOperation returns the operation's current state at once, which the API allows ("not
// guaranteed to wait"); callers check done.
func (o *operationsService) WaitOperation(ctx context.Context, req *longrunningpb.WaitOperationRequest) (*longrunningpb.Operation, error) {
	return o.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: req.GetName()})
}
